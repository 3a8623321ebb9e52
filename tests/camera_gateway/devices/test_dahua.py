"""Dahua's event stream: the pure parser on the wire-format fixtures, then the connection loop against a loopback
device that enforces digest auth (tests/camera_gateway/devices/emulator.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from camera_gateway.devices import dahua
from camera_gateway.devices.connection import AuthFailed, Backoff, DeviceConfig, ProtocolError, Unreachable, run_forever
from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.multipart import MultipartReader, Part
from tests.camera_gateway.devices.emulator import DigestDevice, RecordingReporter, Request

FIXTURES = Path(__file__).parent / "fixtures" / "dahua"
STREAM_TYPE = "multipart/x-mixed-replace; boundary=myboundary"

S, OTHER = Signal.SCENE_CHANGE, Signal.OTHER


def ev(signal: Signal, channel: str | None, action: str, code: str) -> DeviceEvent:
    active, holds = {"Start": (True, True), "Stop": (False, True), "Pulse": (True, False)}[action]
    return DeviceEvent(signal, channel=channel, active=active, holds=holds, code=code)


BEAT = DeviceEvent(Signal.ALIVE, code="Heartbeat")
VAD = "VideoAbnormalDetection"

EXPECTED: dict[str, list[DeviceEvent]] = {
    "heartbeats.txt": [BEAT, BEAT, BEAT],
    "start_stop.txt": [
        BEAT,
        ev(Signal.VIDEO_LOSS, "2", "Start", "VideoLoss"),
        ev(Signal.TAMPER, "1", "Start", "VideoBlind"),
        ev(Signal.BLUR, "4", "Start", "VideoUnFocus"),
        BEAT,
        ev(Signal.TAMPER, "1", "Stop", "VideoBlind"),
        ev(Signal.VIDEO_LOSS, "2", "Stop", "VideoLoss"),
        ev(Signal.BLUR, "4", "Stop", "VideoUnFocus"),
    ],
    "pulse_with_data.txt": [
        ev(OTHER, "1", "Start", "VideoMotion"),
        ev(OTHER, "2", "Pulse", "CrossRegionDetection"),
        ev(OTHER, "1", "Pulse", "NewFile"),
        ev(OTHER, "1", "Stop", "VideoMotion"),
    ],
    "video_abnormal.txt": [
        ev(S, "1", "Start", VAD),
        ev(Signal.TOO_DARK, "2", "Start", VAD),
        ev(Signal.TOO_BRIGHT, "3", "Start", VAD),
        ev(S, "4", "Start", VAD),  # "Freeze": a kind we have no signal for → scene change
        ev(Signal.TOO_DARK, "2", "Stop", VAD),
        # a Stop that does not say which kind ends all three
        ev(S, "1", "Stop", VAD),
        ev(Signal.TOO_DARK, "1", "Stop", VAD),
        ev(Signal.TOO_BRIGHT, "1", "Stop", VAD),
        ev(S, "5", "Start", VAD),  # its JSON is cut: the event stands, the data is ignored
    ],
    "storage.txt": [
        ev(Signal.STORAGE_FAILURE, None, "Start", "StorageNotExist"),
        ev(Signal.STORAGE_FAILURE, None, "Start", "StorageFailure"),
        ev(Signal.STORAGE_FAILURE, None, "Start", "StorageLowSpace"),
        ev(Signal.STORAGE_FAILURE, None, "Stop", "StorageNotExist"),
    ],
    "several_codes_in_one_part.txt": [
        ev(Signal.VIDEO_LOSS, "1", "Start", "VideoLoss"),
        ev(Signal.VIDEO_LOSS, "2", "Start", "VideoLoss"),
        ev(OTHER, "1", "Stop", "VideoMotion"),
        ev(Signal.TAMPER, "3", "Start", "VideoBlind"),
    ],
    "wrong_content_length.txt": [
        ev(Signal.TOO_DARK, "1", "Start", VAD),
        ev(Signal.VIDEO_LOSS, "6", "Start", "VideoLoss"),
        BEAT,
    ],
}


def parts_of(raw: bytes, chunk: int) -> list[Part]:
    reader = MultipartReader("myboundary")
    out = []
    for at in range(0, len(raw), chunk):
        out += reader.feed(raw[at : at + chunk])
    assert all(isinstance(p, Part) for p in out), out
    return out  # type: ignore[return-value]


def test_every_fixture_file_has_an_expectation():
    assert sorted(p.name for p in FIXTURES.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_each_fixture_parses_to_its_events_however_the_bytes_arrive(name: str, chunk: int):
    raw = (FIXTURES / name).read_bytes()
    events = [e for part in parts_of(raw, chunk) for e in dahua.parse_part(part.body)]
    assert events == EXPECTED[name]


def test_index_is_zero_based_so_index_0_is_channel_1():
    assert dahua.parse_part(b"Code=VideoLoss;action=Start;index=0") == [
        ev(Signal.VIDEO_LOSS, "1", "Start", "VideoLoss")
    ]


def test_a_negative_index_means_the_whole_device():
    [event] = dahua.parse_part(b"Code=NTPAdjustTime;action=Pulse;index=-1")
    assert event.channel is None and event.signal is Signal.OTHER


def test_a_code_without_an_index_is_device_wide():
    [event] = dahua.parse_part(b"Code=Reboot;action=Pulse")
    assert event.channel is None


def test_data_with_semicolons_and_equals_does_not_leak_into_the_head():
    body = b'Code=VideoAbnormalDetection;action=Start;index=0;data={"Name":"a;action=Stop;index=9","Type":"TooBright"}'
    assert dahua.parse_part(body) == [ev(Signal.TOO_BRIGHT, "1", "Start", VAD)]


def test_data_over_the_size_bound_is_ignored_but_the_event_stands():
    big = b'{"Type":"TooDark","Pad":"' + b"x" * dahua.MAX_DATA + b'"}'
    assert dahua.parse_part(b"Code=VideoAbnormalDetection;action=Start;index=0;data=" + big) == [
        ev(S, "1", "Start", VAD)
    ]


def test_deeply_nested_data_is_ignored_not_a_crash():
    body = b"Code=VideoAbnormalDetection;action=Start;index=0;data=" + b"[" * 50_000
    assert dahua.parse_part(body) == [ev(S, "1", "Start", VAD)]


def test_a_list_of_kinds_in_type_uses_the_first():
    body = b'Code=VideoAbnormalDetection;action=Pulse;index=0;data={"Type":["TooDark","SceneChange"]}'
    assert dahua.parse_part(body) == [ev(Signal.TOO_DARK, "1", "Pulse", VAD)]


def test_lf_line_ends_work_like_crlf():
    body = (
        b"Code=VideoLoss;action=Start;index=0\n"
        b'Code=VideoAbnormalDetection;action=Start;index=1;data={\n "Type" : "TooDark"\n}\n'
    )
    assert dahua.parse_part(body) == [
        ev(Signal.VIDEO_LOSS, "1", "Start", "VideoLoss"),
        ev(Signal.TOO_DARK, "2", "Start", VAD),
    ]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"Hello", "no Code="),
        (b"garbage\r\nCode=VideoLoss;action=Start;index=0", "before the first"),
        (b"Code=;action=Start;index=0", "empty Code"),
        (b"Code=VideoLoss;index=0", "action None"),
        (b"Code=VideoLoss;action=Begin;index=0", "'Begin'"),
        (b"Code=VideoLoss;action=Start;index=one", "'one' is not a number"),
        (b"Code=VideoLoss;action=Start;ind", "'ind' is not name=value"),
    ],
)
def test_a_malformed_part_raises_a_value_error_that_says_why(body: bytes, words: str):
    with pytest.raises(dahua.MalformedPart, match=words) as caught:
        dahua.parse_part(body)
    assert isinstance(caught.value, ValueError)


# --- the connection, against a loopback device ------------------------------------------------------------------


def config(url: str, password: str = "Cam3ra!pass", **options: object) -> DeviceConfig:
    return DeviceConfig(1, "ubnd-cong", "dahua", url, "admin", password, options={"heartbeat_s": 5, **options})


async def wait_until_client_leaves(request: Request) -> None:
    await request.reader.read()  # returns when the gateway closes the connection


def streaming(*chunks: bytes, close: bool = True, abort: bool = False):
    async def handler(request: Request) -> None:
        assert request.path == dahua.ATTACH_PATH
        assert request.query == {"action": "attach", "codes": "[All]", "heartbeat": "5"}
        await request.start_stream(STREAM_TYPE)
        for chunk in chunks:
            await request.send(chunk)
        if abort:
            request.writer.transport.abort()
        elif close:
            request.writer.close()
        else:
            await wait_until_client_leaves(request)

    return handler


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def run_session(handler, **options: object) -> tuple[RecordingReporter, BaseException]:
    reporter = RecordingReporter()
    async with DigestDevice(handler) as device, httpx.AsyncClient() as client:
        with pytest.raises(Exception) as caught:
            await asyncio.wait_for(dahua.session(config(device.url, **options), client, reporter), 10)
    return reporter, caught.value


async def test_heartbeats_on_the_stream_are_reported_as_alive():
    reporter, error = await run_session(streaming(fixture("heartbeats.txt")))
    assert reporter.states == ["connected"]
    assert reporter.events_seen == [BEAT, BEAT, BEAT]
    assert isinstance(error, Unreachable) and "ended" in str(error)


async def test_start_and_stop_on_index_1_are_channel_2_alarms_that_hold():
    reporter, _ = await run_session(streaming(fixture("start_stop.txt")))
    loss = [e for e in reporter.events_seen if e.signal is Signal.VIDEO_LOSS]
    assert loss == [ev(Signal.VIDEO_LOSS, "2", "Start", "VideoLoss"), ev(Signal.VIDEO_LOSS, "2", "Stop", "VideoLoss")]


async def test_a_pulse_with_multiline_data_is_reported_once_and_does_not_hold():
    reporter, _ = await run_session(streaming(fixture("pulse_with_data.txt")))
    assert reporter.events_seen == EXPECTED["pulse_with_data.txt"]
    assert reporter.malformed_reasons == []


async def test_a_malformed_part_is_counted_and_the_stream_goes_on():
    bad = b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nnot an event\r\n"
    reporter, _ = await run_session(streaming(fixture("heartbeats.txt"), bad, fixture("storage.txt")))
    assert len(reporter.malformed_reasons) == 1 and "no Code=" in reporter.malformed_reasons[0]
    assert reporter.events_seen == EXPECTED["heartbeats.txt"] + EXPECTED["storage.txt"]


async def test_an_oversized_part_is_skipped_and_counted():
    huge = b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 100
    reporter, _ = await run_session(streaming(huge, fixture("heartbeats.txt")))
    assert any("bound" in r for r in reporter.malformed_reasons)
    assert reporter.events_seen == [BEAT, BEAT, BEAT]


async def test_a_cut_in_the_middle_of_a_part_is_unreachable_after_the_events_before_it():
    start_stop = fixture("start_stop.txt")
    cut = start_stop.index(b"Code=VideoUnFocus") + 10
    reporter, error = await run_session(streaming(start_stop[:cut], abort=True))
    assert isinstance(error, Unreachable)
    assert reporter.events_seen == EXPECTED["start_stop.txt"][:3]


async def test_a_wrong_password_is_auth_failed_and_never_connected():
    reporter, error = await run_session(streaming(fixture("heartbeats.txt")), password="wrong")
    assert isinstance(error, AuthFailed) and "wrong" not in str(error)
    assert reporter.states == [] and reporter.events_seen == []


async def test_an_answer_that_is_not_multipart_is_a_protocol_error():
    async def handler(request: Request) -> None:
        await request.reply(200, b"Error\r\nBad Request!\r\n", "text/plain")

    _, error = await run_session(handler)
    assert isinstance(error, ProtocolError)


async def test_a_device_that_accepts_then_stalls_is_unreachable_within_stall_s():
    loop = asyncio.get_running_loop()
    started = loop.time()
    reporter, error = await run_session(streaming(fixture("heartbeats.txt"), close=False), stall_s=0.3)
    assert isinstance(error, Unreachable) and "stopped sending" in str(error)
    assert reporter.events_seen == [BEAT, BEAT, BEAT]
    assert loop.time() - started < 5


async def test_a_device_that_never_answers_is_unreachable_within_stall_s():
    reporter = RecordingReporter()
    async with DigestDevice(streaming(), stall=True) as device, httpx.AsyncClient() as client:
        with pytest.raises(Unreachable):
            await asyncio.wait_for(dahua.session(config(device.url, stall_s=0.3), client, reporter), 5)
        device.drop_connections()
    assert reporter.states == []


class _Stop(Exception):
    pass


async def test_a_refused_password_backs_off_for_a_minute_or_more_without_a_storm():
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 3:
            raise _Stop

    reporter = RecordingReporter()
    async with DigestDevice(streaming(fixture("heartbeats.txt"))) as device, httpx.AsyncClient() as client:
        with pytest.raises(_Stop):
            await run_forever(dahua.session, config(device.url, password="wrong"), client, reporter, sleep=sleep)
        failures = device.auth_failures
    assert reporter.states == ["auth_failed"] * 3
    assert all(d >= Backoff().auth_first_s / 2 for d in delays), delays
    assert failures == 3  # one digest attempt per session, never a retry storm


async def test_check_says_model_software_and_channels():
    answers = {
        "getDeviceType": b"type=DH-IPC-HFW1230S\r\n",
        "getSoftwareVersion": b"version=2.800.0000000.25.R,build:2020-03-18\r\n",
        "getProductDefinition": b"table.MaxRemoteInputChannels=16\r\n",
    }

    async def handler(request: Request) -> None:
        assert request.path == dahua.MAGIC_BOX
        await request.reply(200, answers[request.query["action"]], "text/plain")

    async with DigestDevice(handler) as device, httpx.AsyncClient() as client:
        words = await dahua.check(config(device.url), client)
    assert words == "Dahua DH-IPC-HFW1230S, software 2.800.0000000.25.R (build 2020-03-18), 16 IP channels"


async def test_check_leaves_out_what_older_firmware_cannot_answer():
    async def handler(request: Request) -> None:
        action = request.query["action"]
        if action == "getProductDefinition":
            await request.reply(400, b"Error\r\nBad Request!\r\n", "text/plain")
        else:
            await request.reply(200, {"getDeviceType": b"type=IPC-HDW1200S\r\n"}.get(action, b"version=2.400\r\n"))

    async with DigestDevice(handler) as device, httpx.AsyncClient() as client:
        assert await dahua.check(config(device.url), client) == "Dahua IPC-HDW1200S, software 2.400"


async def test_check_with_a_wrong_password_is_auth_failed():
    async with DigestDevice(streaming()) as device, httpx.AsyncClient() as client:
        with pytest.raises(AuthFailed):
            await dahua.check(config(device.url, password="wrong"), client)
