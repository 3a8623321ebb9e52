"""Our Hikvision parser against an independent one: pyhik (the library behind Home Assistant's `hikvision`
integration) reads the same fixtures through its own code path.

pyhik is driven through `HikCamera.alert_stream`, its real stream loop (line assembly, `ET.fromstring`,
`process_stream`), with only its HTTP calls replaced: `get_device_info`, `get_event_triggers` and
`get_motion_detection` at start, and the stream session's `get`, which answers the fixture's lines once and then
fails so the loop ends. What pyhik concluded is read from `event_states`, the table it updates per
(event type, channel).

Where the two disagree the test says so explicitly; these are findings, not bugs of ours:
- pyhik reads the namespace of the root and falls back to hikvision.com/ver20 when it does not start with
  "http", so `urn:psialliance-org` (NVR alerts) and namespace-less alerts are silently ignored;
- its stream loop assembles an alert from lines and misses one that starts and ends on the same line;
- event types outside its SENSOR_MAP (`heartBeat`, `recordingexception`) are ignored, and an event without a
  channel (a disk alarm) cannot be tracked at all;
- it folds `defocus` into "Tamper Detection" where we keep BLUR apart (a degraded picture, not an obstruction).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
import requests
from pyhik.constants import SENSOR_MAP
from pyhik.hikvision import HikCamera

from camera_gateway.devices.events import Signal
from camera_gateway.devices.hikvision import parse_alert

FIXTURES = Path(__file__).parent / "fixtures" / "hikvision"
CHANNELS = list(range(1, 65))


class _StreamOnce:
    """The one answer pyhik's stream session gets: the fixture's lines, as `requests` yields them."""

    status_code = requests.codes.ok

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def iter_lines(self) -> Iterator[bytes]:
        yield from self.lines


@contextmanager
def pyhik_camera() -> Iterator[HikCamera]:
    """A HikCamera built by its own `__init__`/`initialize`, with its HTTP calls answered locally: every event
    type of SENSOR_MAP configured on channels 1–64 (videoloss injected, since pyhik skips it at start)."""
    triggers = {event: CHANNELS for event in SENSOR_MAP}
    info = {"deviceName": "nvr", "deviceID": "484a3831-3130-0000-0000-000c0000f00e"}
    with ExitStack() as stack:
        stack.enter_context(patch.object(HikCamera, "get_device_info", return_value=info))
        stack.enter_context(patch.object(HikCamera, "get_event_triggers", return_value=triggers))
        stack.enter_context(patch.object(HikCamera, "get_motion_detection", return_value=None))
        camera = HikCamera(host="127.0.0.1", usr="admin", pwd="not-used")
    camera.inject_events({"Video Loss": CHANNELS})
    try:
        yield camera
    finally:
        camera.watchdog.stop()
        camera.hik_request.close()
        camera.hik_request_stream.close()


def pyhik_reads(xml: bytes) -> list[tuple[str, int, bool]]:
    """(event type, channel, active) for every entry pyhik's stream loop updated on this alert."""
    with pyhik_camera() as camera:
        before = {id(entry) for entries in camera.event_states.values() for entry in entries}
        kill = threading.Event()
        answers = iter([_StreamOnce(xml.splitlines())])

        def get(*args: Any, **kwargs: Any) -> _StreamOnce:
            try:
                return next(answers)
            except StopIteration:
                kill.set()  # the second connection attempt ends pyhik's loop
                raise requests.ConnectionError("stream over") from None

        with patch.object(camera.hik_request_stream, "get", get):
            camera.alert_stream(threading.Event(), kill)
        return sorted(
            (event, entry[1], entry[0])
            for event, entries in camera.event_states.items()
            for entry in entries
            if id(entry) not in before
        )


# What pyhik concludes from each fixture; [] = pyhik ignores it (why is in the comment).
PYHIK = {
    "alert_ver10_videoloss_heartbeat.xml": [("Video Loss", 1, False)],
    "alert_ver20_videoloss_heartbeat.xml": [("Video Loss", 1, False)],
    "alert_isapi_org_videoloss_heartbeat.xml": [("Video Loss", 1, False)],
    "alert_empty_active_post_count.xml": [("Video Loss", 1, False)],
    "alert_isapi_org_heartbeat.xml": [],  # `heartBeat` is not in SENSOR_MAP
    "alert_no_namespace_videoloss_heartbeat.xml": [],  # one line, and no namespace: both defeat pyhik
    "alert_psia_nvr_fielddetection_ch34.xml": [],  # urn:psialliance-org: pyhik looks under ver20 and finds nothing
    "alert_std_cgi_vmd.xml": [("Motion", 1, True)],
    "alert_videoloss_active_ch2.xml": [("Video Loss", 2, True)],
    "alert_videoloss_ended_ch2.xml": [("Video Loss", 2, False)],
    "alert_nvr_videoloss_dyn_ch34_no_ip_mac.xml": [("Video Loss", 34, True)],
    "alert_shelteralarm.xml": [("Tamper Detection", 3, True)],
    "alert_defocus.xml": [("Tamper Detection", 1, True)],  # we say BLUR: see the module docstring
    "alert_diskfull.xml": [],  # no channel: pyhik's table is per channel, so a disk alarm is lost
    "alert_recordingexception.xml": [],  # not in SENSOR_MAP
    "alert_io_input_port.xml": [("I/O", 1, True)],
}

# Our signal → the name pyhik gives the same thing.
_SAME_THING = {
    Signal.VIDEO_LOSS: {"Video Loss"},
    Signal.TAMPER: {"Tamper Detection"},
    Signal.BLUR: {"Tamper Detection"},
    Signal.STORAGE_FAILURE: {"Disk Full", "Disk Error"},
    Signal.RECORDING_FAILURE: {"Recording Failure"},
    Signal.OTHER: set(SENSOR_MAP.values()),
}


def test_every_alert_fixture_is_cross_checked() -> None:
    assert sorted(p.name for p in FIXTURES.glob("alert_*.xml")) == sorted(PYHIK)


@pytest.mark.parametrize("name", sorted(PYHIK))
def test_pyhik_reads_each_fixture_as_recorded(name: str) -> None:
    assert pyhik_reads((FIXTURES / name).read_bytes()) == PYHIK[name]


@pytest.mark.parametrize("name", sorted(name for name, seen in PYHIK.items() if seen))
def test_where_pyhik_reads_an_alert_it_agrees_with_ours(name: str) -> None:
    ((pyhik_type, pyhik_channel, pyhik_active),) = PYHIK[name]
    (ours,) = parse_alert((FIXTURES / name).read_bytes())
    if ours.signal is Signal.ALIVE:
        # our heartbeat is pyhik's keep-alive: a videoloss it records as inactive (and pets its watchdog for)
        assert (pyhik_type, pyhik_active, ours.code) == ("Video Loss", False, "videoloss")
        return
    assert pyhik_type in _SAME_THING[ours.signal]
    assert SENSOR_MAP.get(ours.code.lower()) == pyhik_type
    assert (str(pyhik_channel), pyhik_active) == (ours.channel, ours.active)


def test_we_read_every_alert_pyhik_ignores() -> None:
    ignored = [name for name, seen in PYHIK.items() if not seen]
    assert len(ignored) == 5
    for name in ignored:
        (ours,) = parse_alert((FIXTURES / name).read_bytes())
        assert ours.code, name


def test_pyhik_misses_an_alert_on_one_line_and_one_in_another_namespace_for_those_reasons_alone() -> None:
    heartbeat = (FIXTURES / "alert_ver20_videoloss_heartbeat.xml").read_bytes()
    assert pyhik_reads(heartbeat.replace(b"\n", b"")) == []  # the same alert on one line: lost by the line loop
    assert parse_alert(heartbeat.replace(b"\n", b"")) == parse_alert(heartbeat)
    nvr = (FIXTURES / "alert_psia_nvr_fielddetection_ch34.xml").read_bytes()
    as_ver20 = nvr.replace(b"urn:psialliance-org", b"http://www.hikvision.com/ver20/XMLSchema")
    assert pyhik_reads(as_ver20) == [("Field Detection", 34, True)]  # only the namespace stopped it
    assert parse_alert(as_ver20) == parse_alert(nvr)
