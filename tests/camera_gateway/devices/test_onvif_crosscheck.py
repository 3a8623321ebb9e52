"""Our ONVIF parser against onvif-parsers (the library Home Assistant's ONVIF integration uses), on the same zeep
NotificationMessage objects: the same topic, source token and state, except where the table says why not.

onvif-parsers returns EventEntity(uid=f"{uid}_{topic}_{source…}", value=…) per topic it registers; it is called
here the way Home Assistant calls it (topic with trailing "/." stripped).
"""

from __future__ import annotations

from typing import Any

import onvif_parsers
import pytest

from camera_gateway.devices.onvif_events import parse_notification
from tests.camera_gateway.devices.test_onvif import pulled

UID = "cam"
UNKNOWN = "unknown topic"

# (fixture, message index) → what onvif-parsers says: (source part of its uid, value), or UNKNOWN.
THEIRS: dict[tuple[str, int], Any] = {
    # Both agree: the first Source item is the video source, the state is Data's boolean.
    ("image_quality.xml", 0): ("VideoSourceToken", True),
    ("image_quality.xml", 1): ("video_source_config1", True),
    ("image_quality.xml", 2): ("00000", False),
    ("image_quality.xml", 3): ("VideoSource_2", True),
    ("rule_engine.xml", 1): ("VideoSourceConfigToken_1_VideoAnalyticsConfigToken_1_MyTamperDetectorRule", True),
    # Differences, by design:
    # onvif-parsers has no parser for tns1:VideoSource/SignalLoss (v2.5) — the one topic that means "down".
    ("signal_loss.xml", 0): UNKNOWN,
    ("signal_loss.xml", 1): UNKNOWN,
    ("deleted_with_suffix.xml", 0): UNKNOWN,
    # It keys storage failures by the storage token; for us a disk is the whole device's (channel None).
    ("device_wide.xml", 0): ("SD_DISK_1", True),
    # Last reboot is a timestamp sensor there; for us only a proof of life (OTHER, active).
    ("device_wide.xml", 1): ("", "2026-11-29T22:01:17Z"),
    # It rewrites Tapo's configuration token "vsconf" to "VideoSourceToken"; we keep the device's text verbatim.
    ("rule_engine.xml", 0): ("VideoSourceToken_VideoAnalyticsToken_MyMotionDetectorRule", True),
}
SAME_SOURCE = {("image_quality.xml", i) for i in range(4)}


@pytest.mark.parametrize(("fixture", "index"), sorted(THEIRS))
async def test_onvif_parsers_reads_the_same_message_as_we_do(fixture: str, index: int) -> None:
    message = pulled(fixture)[index]
    [ours] = parse_notification(message)
    topic = message.Topic._value_1.rstrip("/.")
    assert ours.code.rstrip("/.") == topic

    if THEIRS[fixture, index] == UNKNOWN:
        with pytest.raises(onvif_parsers.errors.UnknownTopicError):
            await onvif_parsers.parse(topic, UID, message)
        return

    [theirs] = await onvif_parsers.parse(topic, UID, message)
    source, value = THEIRS[fixture, index]
    assert theirs.uid == f"{UID}_{topic}" + (f"_{source}" if source else "")
    assert theirs.value == value
    if isinstance(value, bool):
        assert ours.active is value  # the same state
    if (fixture, index) in SAME_SOURCE:
        assert ours.channel == source  # the same source token
    if (fixture, index) == ("rule_engine.xml", 1):
        assert ours.channel == source.split("_VideoAnalytics")[0]
