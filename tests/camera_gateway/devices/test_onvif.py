"""ONVIF: the pure parser on PullMessagesResponse fixtures, and the session against the loopback emulator (its
subscription, its liveness polls, and the video sources that name a quiet device's cameras at connect)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import onvif
import pytest
import zeep
from lxml import etree
from onvif.settings import DEFAULT_SETTINGS
from onvif.transport import ASYNC_TRANSPORT

from camera_gateway.devices import onvif as onvif_device
from camera_gateway.devices.connection import (
    AuthFailed,
    Backoff,
    DeviceConfig,
    DeviceError,
    ProtocolError,
    Unreachable,
    run_forever,
)
from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.onvif_events import parse_notification, topic_path
from camera_gateway.devices.tracker import DeviceTracker
from tests.camera_gateway.devices.emulator import RecordingReporter
from tests.camera_gateway.devices.onvif_emulator import OnvifDevice
from tests.e2e import harness

FIXTURES = Path(__file__).parent / "fixtures" / "onvif"
PASSWORD = "Cam3ra!pass"
_EVENTS_WSDL = Path(onvif.__file__).parent / "wsdl" / "events.wsdl"
_PULL_BINDING = "{http://www.onvif.org/ver10/events/wsdl}PullPointSubscriptionBinding"
_TER = "http://www.onvif.org/ver10/error"
_client: zeep.Client | None = None


def pulled(name: str) -> list[Any]:
    """The zeep NotificationMessage objects of a fixture, decoded exactly as onvif-zeep-async decodes a reply."""
    global _client
    _client = _client or zeep.Client(str(_EVENTS_WSDL), transport=ASYNC_TRANSPORT, settings=DEFAULT_SETTINGS)
    operation = _client.wsdl.bindings[_PULL_BINDING].get("PullMessages")
    response = operation.process_reply(etree.fromstring((FIXTURES / name).read_bytes()))
    return list(response.NotificationMessage or [])


def raw(name: str) -> list[etree._Element]:
    """The same messages as lxml elements (a message zeep could not bind reaches the parser like this)."""
    doc = etree.fromstring((FIXTURES / name).read_bytes())
    return doc.findall(".//{http://docs.oasis-open.org/wsn/b-2}NotificationMessage")


def fragments(name: str) -> list[str]:
    """The NotificationMessage fragments of a fixture as text, for the emulator to serve."""
    return re.findall(r"<wsnt:NotificationMessage>.*?</wsnt:NotificationMessage>", (FIXTURES / name).read_text(), re.S)


EXPECTED = {
    "signal_loss.xml": [
        DeviceEvent(Signal.VIDEO_LOSS, "VideoSource_1", False, True, "tns1:VideoSource/SignalLoss"),
        DeviceEvent(Signal.VIDEO_LOSS, "VideoSource_1", True, True, "tns1:VideoSource/SignalLoss"),
    ],
    "image_quality.xml": [
        DeviceEvent(Signal.TOO_DARK, "VideoSourceToken", True, True, "tns1:VideoSource/ImageTooDark/ImagingService"),
        DeviceEvent(
            Signal.TOO_BRIGHT, "video_source_config1", True, True, "tns1:VideoSource/ImageTooBright/AnalyticsService"
        ),
        DeviceEvent(Signal.BLUR, "00000", False, True, "tns1:VideoSource/ImageTooBlurry/RecordingService"),
        DeviceEvent(
            Signal.SCENE_CHANGE, "VideoSource_2", True, True, "tns1:VideoSource/GlobalSceneChange/ImagingService"
        ),
    ],
    "device_wide.xml": [
        DeviceEvent(Signal.STORAGE_FAILURE, None, True, True, "tns1:Device/HardwareFailure/StorageFailure"),
        DeviceEvent(Signal.OTHER, None, True, True, "tns1:Monitoring/OperatingTime/LastReboot"),
    ],
    "rule_engine.xml": [
        DeviceEvent(Signal.OTHER, "vsconf", True, True, "tns1:RuleEngine/CellMotionDetector/Motion"),
        DeviceEvent(Signal.TAMPER, "VideoSourceConfigToken_1", True, True, "tns1:RuleEngine/TamperDetector/Tamper"),
    ],
    "deleted_with_suffix.xml": [
        DeviceEvent(Signal.VIDEO_LOSS, "2", False, True, "tns1:VideoSource/SignalLoss//."),
    ],
    "empty.xml": [],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_parses_each_fixture_from_zeeps_objects(name: str) -> None:
    assert [e for m in pulled(name) for e in parse_notification(m)] == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_reads_the_raw_xml_of_a_message_the_same_way(name: str) -> None:
    assert [e for m in raw(name) for e in parse_notification(m)] == EXPECTED[name]


@pytest.mark.parametrize(
    ("topic", "path"),
    [
        ("tns1:VideoSource/SignalLoss", "VideoSource/SignalLoss"),
        ("ns0:VideoSource/SignalLoss//.", "VideoSource/SignalLoss"),
        (" tns1:RuleEngine/CellMotionDetector/Motion/ ", "RuleEngine/CellMotionDetector/Motion"),
        ("tns1:Device/tnsaxis:Sensor/PIR", "Device/tnsaxis:Sensor/PIR"),
    ],
)
def test_it_compares_topics_without_the_devices_namespace_prefix(topic: str, path: str) -> None:
    assert topic_path(topic) == path


def test_a_message_with_another_prefix_maps_to_the_same_signal() -> None:
    [message] = raw("signal_loss.xml")[1:]
    message.find("{http://docs.oasis-open.org/wsn/b-2}Topic").text = "ns7:VideoSource/SignalLoss"
    assert parse_notification(message)[0].signal is Signal.VIDEO_LOSS


# The session against the emulator.


def config(url: str, password: str = PASSWORD, **options: Any) -> DeviceConfig:
    options = {"subscription_s": 2, "pull_timeout_s": 1, "poll_s": 1, **options}
    return DeviceConfig(7, "UBND xã cổng", "onvif", url, "admin", password, options=options)


# The project's one poll-with-a-deadline, with this file's 10 s deadline.
until = partial(harness.until, timeout=10.0)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_session_subscribes_renews_before_the_lease_lapses_and_reports_events() -> None:
    reporter = RecordingReporter()
    async with OnvifDevice(password=PASSWORD) as device:
        task = asyncio.create_task(onvif_device.session(config(device.url), None, reporter))  # type: ignore[arg-type]
        await until(lambda: "PullMessages" in device.calls)
        device.push(*fragments("signal_loss.xml"), *fragments("image_quality.xml"))
        await until(lambda: device.calls.count("Renew") >= 2 and len(reporter.events_seen) >= 8)
        await stop(task)
        assert device.calls[: device.calls.index("PullMessages")] == [
            "GetSystemDateAndTime",  # adjust_time: the device's clock, before any signed request
            "GetServices",
            "CreatePullPointSubscription",
            "GetVideoSources",  # once connected: every video source is a known channel from the start
        ]
        assert device.calls[-1] == "Unsubscribe" and not device.subscriptions
        assert device.lapsed_pulls == 0 and device.auth_failures == 0
        assert reporter.states == ["connected"]
        alarms = [e for e in reporter.events_seen if e.signal is not Signal.ALIVE]
        assert alarms == EXPECTED["signal_loss.xml"] + EXPECTED["image_quality.xml"]


async def test_a_silent_device_still_proves_it_is_alive_by_polls_and_empty_pulls() -> None:
    reporter = RecordingReporter()
    async with OnvifDevice(password=PASSWORD) as device:
        task = asyncio.create_task(onvif_device.session(config(device.url), None, reporter))  # type: ignore[arg-type]
        await until(lambda: device.calls.count("GetSystemDateAndTime") >= 3 and device.calls.count("PullMessages") >= 2)
        await stop(task)
    first, *rest = reporter.events_seen
    assert first == DeviceEvent(Signal.ALIVE, channel="VideoSource_1")  # its video source, from GetVideoSources
    assert rest and all(e == DeviceEvent(Signal.ALIVE) for e in rest)
    # one ALIVE per answered pull, one per answered poll (the first GetSystemDateAndTime is the clock check)
    polls = device.calls.count("GetSystemDateAndTime") - 1
    assert len(rest) in range(device.calls.count("PullMessages") - 1 + polls, 100)


async def test_a_wrong_password_is_auth_failed_and_never_in_the_message() -> None:
    async with OnvifDevice(password=PASSWORD) as device:
        with pytest.raises(AuthFailed, match="NotAuthorized") as caught:
            await onvif_device.session(config(device.url, "wrong-Secret9"), None, RecordingReporter())  # type: ignore[arg-type]
        with pytest.raises(AuthFailed):
            await onvif_device.check(config(device.url, "wrong-Secret9"), None)  # type: ignore[arg-type]
    assert "wrong-Secret9" not in str(caught.value) and PASSWORD not in str(caught.value)


async def test_an_http_401_is_auth_failed_too() -> None:
    async with OnvifDevice(password=PASSWORD, reject_with_http_401=True) as device:
        with pytest.raises(AuthFailed, match="HTTP 401"):
            await onvif_device.session(config(device.url, "wrong"), None, RecordingReporter())  # type: ignore[arg-type]


async def test_run_forever_backs_off_a_refused_password_without_a_storm() -> None:
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 3:
            raise asyncio.CancelledError

    reporter = RecordingReporter()
    async with OnvifDevice(password=PASSWORD) as device:
        with pytest.raises(asyncio.CancelledError):
            await run_forever(
                onvif_device.session,
                config(device.url, "wrong"),
                None,  # type: ignore[arg-type]
                reporter,
                backoff=Backoff(),
                sleep=sleep,  # type: ignore[arg-type]
            )
    assert reporter.states == ["auth_failed"] * 3
    assert device.auth_failures == 3  # one refused request per attempt
    assert all(d >= Backoff().auth_first_s / 2 for d in delays) and delays[2] >= Backoff().auth_first_s * 2


async def test_a_device_that_goes_away_is_unreachable() -> None:
    reporter = RecordingReporter()
    device = OnvifDevice(password=PASSWORD)
    await device.__aenter__()
    url = device.url
    task = asyncio.create_task(onvif_device.session(config(url, poll_s=60), None, reporter))  # type: ignore[arg-type]
    await until(lambda: "PullMessages" in device.calls)
    await device.close()
    with pytest.raises(Unreachable):
        await asyncio.wait_for(task, 10)
    with pytest.raises(Unreachable, match="cannot connect"):
        await onvif_device.check(config(url), None)  # type: ignore[arg-type]


async def test_a_device_without_an_events_service_is_polled_for_liveness_only() -> None:
    reporter = RecordingReporter()
    async with OnvifDevice(password=PASSWORD, offers_events=False) as device:
        task = asyncio.create_task(onvif_device.session(config(device.url), None, reporter))  # type: ignore[arg-type]
        await until(lambda: len(reporter.events_seen) >= 3)
        await stop(task)
    assert reporter.states == ["connected"]
    assert reporter.events_seen[0] == DeviceEvent(Signal.ALIVE, channel="VideoSource_1")  # named even here
    assert set(reporter.events_seen[1:]) == {DeviceEvent(Signal.ALIVE)}
    assert "GetDeviceInformation" in device.calls and "CreatePullPointSubscription" not in device.calls
    assert device.calls.index("GetDeviceInformation") < device.calls.index("GetVideoSources")


class BatchReporter(RecordingReporter):
    """Also keeps each batch as the loop reported it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[DeviceEvent]] = []

    async def events(self, events: Sequence[DeviceEvent]) -> None:
        self.batches.append(list(events))
        await super().events(events)


async def test_a_quiet_devices_video_sources_are_reported_at_connect_so_each_camera_gets_heartbeats() -> None:
    reporter = BatchReporter()
    tokens = ("VideoSource_1", "VideoSource_2", "VideoSource_3")  # an ONVIF NVR: one source per channel
    async with OnvifDevice(password=PASSWORD, video_sources=tokens) as device:
        task = asyncio.create_task(onvif_device.session(config(device.url), None, reporter))  # type: ignore[arg-type]
        await until(lambda: len(reporter.batches) >= 2)
        await stop(task)
    assert reporter.states == ["connected"]
    assert reporter.batches[0] == [DeviceEvent(Signal.ALIVE, channel=t) for t in tokens]
    # the tracker now knows every channel although the device never sent an event naming one
    tracker = DeviceTracker()
    at = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
    beats = tracker.observe(reporter.batches[0], at)
    assert [(b.channel, b.reading.status) for b in beats] == [(t, "ok") for t in tokens]


async def test_a_device_without_a_media_service_is_watched_all_the_same(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "pulse.devices.onvif")
    reporter = RecordingReporter()
    async with OnvifDevice(password=PASSWORD, offers_media=False) as device:
        task = asyncio.create_task(onvif_device.session(config(device.url), None, reporter))  # type: ignore[arg-type]
        await until(lambda: device.calls.count("PullMessages") >= 2)
        await stop(task)
    assert reporter.states == ["connected"] and set(reporter.events_seen) == {DeviceEvent(Signal.ALIVE)}
    assert "GetVideoSources" not in device.calls  # not listed: not asked
    assert "no media service" in caplog.text


async def test_a_get_video_sources_fault_is_logged_and_the_session_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "pulse.devices.onvif")
    reporter = RecordingReporter()
    async with OnvifDevice(password=PASSWORD, unsupported=frozenset({"GetVideoSources"})) as device:
        task = asyncio.create_task(onvif_device.session(config(device.url), None, reporter))  # type: ignore[arg-type]
        await until(lambda: device.calls.count("PullMessages") >= 2)
        device.push(*fragments("signal_loss.xml"))  # events still name the channel
        await until(lambda: any(e.signal is Signal.VIDEO_LOSS for e in reporter.events_seen))
        await stop(task)
    assert reporter.states == ["connected"] and reporter.errors == []
    assert {e.channel for e in reporter.events_seen} == {None, "VideoSource_1"}
    [record] = [r for r in caplog.records if "GetVideoSources" in r.getMessage()]
    assert record.levelno == logging.INFO and "Optional Action Not Implemented" in record.getMessage()


def test_video_source_tokens_are_read_verbatim_once_each_in_the_devices_order() -> None:
    sources = [SimpleNamespace(token="00000"), SimpleNamespace(token=None), SimpleNamespace(token="vs 2")]
    sources.append(SimpleNamespace(token="00000"))
    assert onvif_device.video_source_tokens(sources) == ["00000", "vs 2"]
    assert onvif_device.video_source_tokens(None) == []


async def test_a_fault_other_than_not_authorized_is_a_protocol_error() -> None:
    async with OnvifDevice(password=PASSWORD, unsupported=frozenset({"CreatePullPointSubscription"})) as device:
        with pytest.raises(ProtocolError, match="SOAP fault: Optional Action Not Implemented"):
            await onvif_device.session(config(device.url), None, RecordingReporter())  # type: ignore[arg-type]


async def test_check_names_the_device() -> None:
    async with OnvifDevice(password=PASSWORD) as device:
        words = await onvif_device.check(config(device.url), None)  # type: ignore[arg-type]
    assert words == "ONVIF HIKVISION DS-2CD2143G2-I, firmware V5.7.3 build 220112"


def test_errors_are_typed_device_errors() -> None:
    fault = zeep.exceptions.Fault("Optional Action Not Implemented", subcodes=[etree.QName(_TER, "ActionNotSupported")])
    assert isinstance(onvif_device.onvif_error(fault, "Renew"), ProtocolError)
    refused = zeep.exceptions.Fault("Sender not Authorized", subcodes=[etree.QName(_TER, "NotAuthorized")])
    assert isinstance(onvif_device.onvif_error(refused, "Renew"), AuthFailed)
    assert isinstance(onvif_device.onvif_error(TimeoutError(), "PullMessages"), Unreachable)
    assert isinstance(onvif_device.onvif_error(ValueError(), "x"), DeviceError)
