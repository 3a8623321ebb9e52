"""Hikvision ISAPI: the pure parsers on fixtures in the wire format (fixtures/hikvision/README.md says where each
came from), and the connection code against `DigestDevice`, a loopback device that enforces digest auth."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import httpx
import pytest

from camera_gateway.devices.connection import AuthFailed, Backoff, DeviceConfig, Unreachable, run_forever
from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.hikvision import (
    ALERT_STREAM,
    CHANNEL_STATUS,
    DEVICE_INFO,
    MalformedAlert,
    absent_channels,
    check,
    listed_channels,
    parse_alert,
    parse_alert_json,
    parse_channel_status,
    parse_push,
    session,
)
from tests.camera_gateway.devices.emulator import DigestDevice, RecordingReporter, Request
from tests.e2e import harness

FIXTURES = Path(__file__).parent / "fixtures" / "hikvision"
PASSWORD = "Cam3ra!pass"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def alive(code: str = "videoloss", channel: str | None = "1") -> DeviceEvent:
    """A heartbeat: proof of life that names its channel (so a camera that only beats is known) and no alarm."""
    return DeviceEvent(Signal.ALIVE, channel, code=code)


# ---------------------------------------------------------------------------------------------------- the parser

EXPECTED = {
    "alert_ver10_videoloss_heartbeat.xml": [alive()],
    "alert_ver20_videoloss_heartbeat.xml": [alive()],
    "alert_isapi_org_heartbeat.xml": [alive("heartBeat")],
    "alert_isapi_org_videoloss_heartbeat.xml": [alive()],
    "alert_no_namespace_videoloss_heartbeat.xml": [alive()],
    "alert_empty_active_post_count.xml": [alive()],
    "alert_std_cgi_vmd.xml": [DeviceEvent(Signal.OTHER, "1", code="VMD")],
    "alert_psia_nvr_fielddetection_ch34.xml": [DeviceEvent(Signal.OTHER, "34", code="fielddetection")],
    "alert_videoloss_active_ch2.xml": [DeviceEvent(Signal.VIDEO_LOSS, "2", code="videoloss")],
    "alert_videoloss_ended_ch2.xml": [DeviceEvent(Signal.VIDEO_LOSS, "2", active=False, code="videoloss")],
    "alert_nvr_videoloss_dyn_ch34_no_ip_mac.xml": [DeviceEvent(Signal.VIDEO_LOSS, "34", code="videoloss")],
    "alert_shelteralarm.xml": [DeviceEvent(Signal.TAMPER, "3", code="shelteralarm")],
    "alert_defocus.xml": [DeviceEvent(Signal.BLUR, "1", code="defocus")],
    "alert_diskfull.xml": [DeviceEvent(Signal.STORAGE_FAILURE, None, code="diskfull")],
    "alert_recordingexception.xml": [DeviceEvent(Signal.RECORDING_FAILURE, "5", code="recordingexception")],
    "alert_io_input_port.xml": [DeviceEvent(Signal.OTHER, "1", code="IO")],
}


def test_every_alert_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in FIXTURES.glob("alert_*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_reads_each_fixture_as_the_product_means_it(name: str) -> None:
    assert parse_alert(fixture(name)) == EXPECTED[name]


def test_it_reads_every_namespace_variant() -> None:
    variants = {
        "alert_ver10_videoloss_heartbeat.xml": "http://www.hikvision.com/ver10/XMLSchema",
        "alert_ver20_videoloss_heartbeat.xml": "http://www.hikvision.com/ver20/XMLSchema",
        "alert_isapi_org_videoloss_heartbeat.xml": "http://www.isapi.org/ver20/XMLSchema",
        "alert_std_cgi_vmd.xml": "http://www.std-cgi.com/ver20/XMLSchema",
        "alert_psia_nvr_fielddetection_ch34.xml": "urn:psialliance-org",
        "alert_no_namespace_videoloss_heartbeat.xml": None,
    }
    for name, namespace in variants.items():
        text = fixture(name)
        assert (f'xmlns="{namespace}"'.encode() in text) if namespace else b"xmlns" not in text
        (event,) = parse_alert(text)
        assert event.signal in (Signal.ALIVE, Signal.OTHER) and event.code, name


def test_it_takes_the_heartbeat_for_proof_of_life_not_for_news_of_its_channel() -> None:
    (event,) = parse_alert(fixture("alert_ver20_videoloss_heartbeat.xml"))
    assert event == DeviceEvent(Signal.ALIVE, "1", active=True, holds=False, code="videoloss")


def test_it_takes_an_inactive_videoloss_without_a_channel_as_a_heartbeat() -> None:
    xml = b"<EventNotificationAlert><eventType>videoloss</eventType><eventState>inactive</eventState>"
    xml += b"<activePostCount>4</activePostCount></EventNotificationAlert>"
    assert parse_alert(xml) == [alive(channel=None)]


def test_no_hikvision_alarm_holds() -> None:
    for name in EXPECTED:
        assert not any(e.holds for e in parse_alert(fixture(name))), name


def test_it_rebases_an_nvrs_ip_channels_when_told_the_offset() -> None:
    (event,) = parse_alert(fixture("alert_nvr_videoloss_dyn_ch34_no_ip_mac.xml"), ip_channel_offset=32)
    assert event.channel == "2"
    (event,) = parse_alert(fixture("alert_videoloss_active_ch2.xml"), ip_channel_offset=32)
    assert event.channel == "2"  # an analog/low channel is left alone


def test_it_takes_channel_zero_for_the_whole_device() -> None:
    xml = b"<EventNotificationAlert><channelID>0</channelID><eventType>diskerror</eventType></EventNotificationAlert>"
    assert parse_alert(xml) == [DeviceEvent(Signal.STORAGE_FAILURE, None, code="diskerror")]


def test_it_reads_an_event_without_a_state_as_active() -> None:
    xml = b"<EventNotificationAlert><channelID>7</channelID><eventType>tamperdetection</eventType>"
    xml += b"</EventNotificationAlert>"
    assert parse_alert(xml) == [DeviceEvent(Signal.TAMPER, "7", code="tamperdetection")]


@pytest.mark.parametrize(
    "name", ["hostile_billion_laughs.xml", "hostile_external_entity.xml", "hostile_external_dtd.xml"]
)
def test_it_refuses_hostile_xml_without_expanding_it(name: str) -> None:
    with pytest.raises(MalformedAlert, match="hostile XML refused"):
        parse_alert(fixture(name))


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"<EventNotificationAlert><eventType>VMD</eventType", "not well-formed"),
        (b"", "not well-formed"),
        (b"<ResponseStatus><statusCode>4</statusCode></ResponseStatus>", "expected <EventNotificationAlert>"),
        (b"<EventNotificationAlert><channelID>1</channelID></EventNotificationAlert>", "without eventType"),
        (b"<EventNotificationAlert>" + b"x" * 300_000 + b"</EventNotificationAlert>", "over the"),
    ],
)
def test_it_says_why_it_cannot_read_an_alert(xml: bytes, reason: str) -> None:
    with pytest.raises(MalformedAlert, match=reason):
        parse_alert(xml)
    assert issubclass(MalformedAlert, ValueError)


def test_it_reads_the_json_alerts_of_newer_firmware() -> None:
    body = b'{"ipAddress":"192.168.1.5","channelID":2,"eventType":"videoloss","eventState":"active"}'
    assert parse_alert_json(body) == [DeviceEvent(Signal.VIDEO_LOSS, "2", code="videoloss")]
    with pytest.raises(MalformedAlert):
        parse_alert_json(b"[1, 2]")


# ------------------------------------------------------------------------------------------------------ the push


def test_it_reads_a_pushed_multipart_alarm_and_ignores_its_picture() -> None:
    events = parse_push(fixture("push_multipart_vmd.bin"), "multipart/form-data; boundary=MIME_boundary")
    assert events == [DeviceEvent(Signal.OTHER, "1", code="VMD")]


def test_it_reads_a_pushed_bare_xml_alarm() -> None:
    assert parse_push(fixture("alert_shelteralarm.xml"), 'application/xml; charset="UTF-8"') == [
        DeviceEvent(Signal.TAMPER, "3", code="shelteralarm")
    ]


def test_it_refuses_a_push_without_an_alert() -> None:
    only_picture = b"--b\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xd9\r\n--b--\r\n"
    with pytest.raises(MalformedAlert, match="without an XML or JSON alert"):
        parse_push(only_picture, "multipart/form-data; boundary=b")
    with pytest.raises(MalformedAlert, match="without a boundary"):
        parse_push(only_picture, "multipart/form-data")
    with pytest.raises(MalformedAlert, match="hostile"):
        parse_push(fixture("hostile_billion_laughs.xml"), "application/xml")


# -------------------------------------------------------------------------------------------- the NVR's channels


def test_it_reads_an_nvrs_channel_status() -> None:
    assert parse_channel_status(fixture("channel_status_nvr.xml")) == [
        DeviceEvent(Signal.ALIVE, code="InputProxyChannelStatusList"),
        DeviceEvent(Signal.OFFLINE, "1", active=False, holds=True, code="online"),
        DeviceEvent(Signal.OFFLINE, "2", active=True, holds=True, code="online"),
        # channel 3 has no <online>: unknown is not offline, so it is left out
    ]


def test_every_listed_channel_counts_as_present_even_with_an_unknown_state() -> None:
    assert listed_channels(fixture("channel_status_nvr.xml")) == {"1", "2", "3"}


def test_a_known_channel_the_reply_leaves_out_is_offline_and_held() -> None:
    absent = absent_channels({"10", "2", "9", "1", "cam"}, {"1", "2"})

    assert absent == [
        DeviceEvent(Signal.OFFLINE, "9", active=True, holds=True, code="absent from the channel list"),
        DeviceEvent(Signal.OFFLINE, "10", active=True, holds=True, code="absent from the channel list"),
    ]
    assert absent_channels({"1", "2"}, {"1", "2", "3"}) == []  # a new channel is news, not an absence
    assert absent_channels({"1", "2"}, set()) == []  # an empty list (an analog DVR, a camera) says nothing


# ------------------------------------------------------------------------------------------ the connection code

BOUNDARY = "boundary"
STREAM_TYPE = f"multipart/mixed; boundary={BOUNDARY}"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200)) + b"\xff\xd9"


def part(body: bytes, content_type: str = 'application/xml; charset="UTF-8"') -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body + b"\r\n"


def config(url: str, password: str = PASSWORD, **options: object) -> DeviceConfig:
    return DeviceConfig(1, "xa-an-binh-nvr", "hikvision", url, "admin", password, options=options)


# The project's one poll-with-a-deadline, with this file's 5 s deadline.
until = partial(harness.until, timeout=5.0)


async def not_found(request: Request) -> None:
    await request.reply(404, b"<ResponseStatus><statusCode>4</statusCode></ResponseStatus>")


async def test_it_reports_each_part_of_the_stream_and_fails_unreachable_when_cut() -> None:
    heartbeat = fixture("alert_ver20_videoloss_heartbeat.xml")

    async def handler(request: Request) -> None:
        if request.path != ALERT_STREAM:
            return await not_found(request)
        await request.start_stream(STREAM_TYPE)
        await request.send(part(heartbeat) + part(fixture("alert_videoloss_active_ch2.xml")))
        await request.send(part(JPEG, "image/jpeg"))
        await request.send(part(b"<EventNotificationAlert><eventType>VMD</eventType"))  # broken, and counted
        await request.send(part(heartbeat))
        await request.send(part(fixture("alert_shelteralarm.xml"))[:90])  # cut in the middle of a part
        request.writer.close()

    reporter = RecordingReporter()
    async with DigestDevice(handler) as device, httpx.AsyncClient() as client:
        with pytest.raises(Unreachable) as failed:
            await asyncio.wait_for(session(config(device.url), client, reporter), 5)
    assert reporter.states == ["connected"]
    assert reporter.events_seen == [alive(), DeviceEvent(Signal.VIDEO_LOSS, "2", code="videoloss"), alive()]
    assert len(reporter.malformed_reasons) == 1 and "not well-formed" in reporter.malformed_reasons[0]
    assert PASSWORD not in str(failed.value)


async def test_a_wrong_password_is_auth_failed_and_retried_only_after_a_long_backoff() -> None:
    class Enough(Exception):
        pass

    delays: list[float] = []

    async def sleep(delay: float) -> None:  # time is controlled: record the delay, never wait
        delays.append(delay)
        if len(delays) == 3:
            raise Enough

    reporter = RecordingReporter()
    async with DigestDevice(not_found) as device, httpx.AsyncClient() as client:
        with pytest.raises(AuthFailed) as refused:
            await session(config(device.url, password="wrong-password"), client, reporter)
        assert device.auth_failures == 1
        with pytest.raises(Enough):
            await run_forever(
                session, config(device.url, password="wrong-password"), client, reporter, backoff=Backoff(), sleep=sleep
            )
        assert device.auth_failures == 1 + 3  # one refused attempt per retry: no storm
    assert reporter.states == ["auth_failed"] * 3
    assert 30 <= delays[0] <= 60 and 60 <= delays[1] <= 120 and 120 <= delays[2] <= 240
    assert "wrong-password" not in str(refused.value)


async def test_a_device_that_accepts_and_then_stalls_is_unreachable_within_the_stall_timeout() -> None:
    loop = asyncio.get_running_loop()
    async with DigestDevice(not_found, stall=True) as device, httpx.AsyncClient() as client:
        started = loop.time()
        with pytest.raises(Unreachable, match=r"stopped sending|no answer"):
            await asyncio.wait_for(session(config(device.url, stall_s=0.5), client, RecordingReporter()), 5)
        assert loop.time() - started < 2.0


async def test_a_stream_that_goes_silent_after_a_heartbeat_is_unreachable() -> None:
    async def handler(request: Request) -> None:
        if request.path != ALERT_STREAM:
            return await not_found(request)
        await request.start_stream(STREAM_TYPE)
        await request.send(part(fixture("alert_ver20_videoloss_heartbeat.xml")))
        await request.reader.read()  # silent until the gateway gives up and closes

    reporter = RecordingReporter()
    async with DigestDevice(handler) as device, httpx.AsyncClient() as client:
        with pytest.raises(Unreachable, match="stopped sending"):
            await asyncio.wait_for(session(config(device.url, stall_s=0.5, nvr=False), client, reporter), 5)
    assert reporter.events_seen == [alive()]


def nvr_handler(status_reply: tuple[int, bytes], counter: list[int]) -> Callable[[Request], Awaitable[None]]:
    async def handler(request: Request) -> None:
        if request.path == CHANNEL_STATUS:
            counter.append(1)
            await request.reply(*status_reply)
        elif request.path == ALERT_STREAM:
            await request.start_stream(STREAM_TYPE)
            await request.send(part(fixture("alert_ver20_videoloss_heartbeat.xml")))
            await request.reader.read()  # the stream stays open until the gateway leaves
        else:
            await not_found(request)

    return handler


async def test_it_polls_an_nvrs_channel_status_beside_the_stream() -> None:
    polls: list[int] = []
    reporter = RecordingReporter()
    handler = nvr_handler((200, fixture("channel_status_nvr.xml")), polls)
    async with DigestDevice(handler) as device, httpx.AsyncClient() as client:
        task = asyncio.create_task(session(config(device.url, nvr=True, poll_s=0.05), client, reporter))
        await until(lambda: len(polls) >= 2)
        await until(lambda: sum(e.signal is Signal.OFFLINE for e in reporter.events_seen) >= 4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert DeviceEvent(Signal.OFFLINE, "2", active=True, holds=True, code="online") in reporter.events_seen
    assert DeviceEvent(Signal.OFFLINE, "1", active=False, holds=True, code="online") in reporter.events_seen
    assert alive() in reporter.events_seen and reporter.malformed_reasons == []


def without_channel(xml: bytes, channel: str) -> bytes:
    """The status list with one channel's entry removed, as the NVR answers once that channel is deleted."""
    entry = rb"<InputProxyChannelStatus [^>]*>\s*<id>" + channel.encode() + rb"</id>.*?</InputProxyChannelStatus>\s*"
    smaller = re.sub(entry, b"", xml, flags=re.S)
    assert smaller != xml
    return smaller


async def test_a_channel_deleted_from_the_nvr_or_mapped_but_never_listed_is_offline() -> None:
    full = fixture("channel_status_nvr.xml")  # channels 1, 2 and 3 (3 with no readable state)
    replies = [full, without_channel(full, "2"), full]
    polls: list[int] = []

    async def handler(request: Request) -> None:
        if request.path == CHANNEL_STATUS:
            polls.append(1)
            await request.reply(200, replies[min(len(polls), len(replies)) - 1])
        elif request.path == ALERT_STREAM:
            await request.start_stream(STREAM_TYPE)
            await request.reader.read()
        else:
            await not_found(request)

    reporter = RecordingReporter()
    async with DigestDevice(handler) as device, httpx.AsyncClient() as client:
        nvr = DeviceConfig(
            1,
            "xa-an-binh-nvr",
            "hikvision",
            device.url,
            "admin",
            PASSWORD,
            channels={"1": "HH-BS-001", "4": "HH-BS-004"},  # InputProxy's numbers, as with the offset set
            options={"nvr": True, "poll_s": 0.05, "ip_channel_offset": 32},
        )
        task = asyncio.create_task(session(nvr, client, reporter))
        await until(lambda: len(polls) >= 4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    batches: list[list[DeviceEvent]] = [[]]
    for event in reporter.events_seen:
        if event.signal is Signal.ALIVE:
            batches.append([])
        batches[-1].append(event)
    first, second, third = batches[1:4]

    def absent(channel: str) -> DeviceEvent:
        return DeviceEvent(Signal.OFFLINE, channel, active=True, holds=True, code="absent from the channel list")

    assert [e for e in first if e.code != "online"] == [alive("InputProxyChannelStatusList", None), absent("4")]
    assert [e for e in second if e.channel == "2"] == [absent("2")]  # listed before, gone now
    assert DeviceEvent(Signal.OFFLINE, "2", active=True, holds=True, code="online") in third  # back, by its state
    assert absent("2") not in third and absent("4") in third
    assert not any(e.channel == "3" for e in reporter.events_seen)  # listed every time, state unknown: left out


async def test_it_stops_polling_quietly_when_the_device_has_no_input_proxy() -> None:
    polls: list[int] = []
    reporter = RecordingReporter()
    async with DigestDevice(nvr_handler((404, b""), polls)) as device, httpx.AsyncClient() as client:
        task = asyncio.create_task(session(config(device.url, poll_s=0.01), client, reporter))
        await until(lambda: len(polls) == 1 and alive() in reporter.events_seen)
        # the one bounded wait here proves an absence: at poll_s=0.01 a poller would have asked ~20 more times
        await asyncio.sleep(0.2)  # ok: proves an absence (no more polls); no event marks that nothing happened
        assert len(polls) == 1 and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert reporter.malformed_reasons == [] and reporter.errors == []


async def test_check_describes_the_device_in_words() -> None:
    async def nvr(request: Request) -> None:
        if request.path == DEVICE_INFO:
            await request.reply(200, fixture("device_info_nvr.xml"))
        elif request.path == CHANNEL_STATUS:
            await request.reply(200, fixture("channel_status_nvr.xml"))
        else:
            await not_found(request)

    async def camera(request: Request) -> None:
        if request.path == DEVICE_INFO:
            await request.reply(200, fixture("device_info_nvr.xml").replace(b"DS-7608NXI-I2/8P/S", b"DS-2CD1023G2"))
        else:
            await not_found(request)

    async with httpx.AsyncClient() as client:
        async with DigestDevice(nvr) as device:
            words = await check(config(device.url), client)
            assert words == "Hikvision DS-7608NXI-I2/8P/S, firmware V4.62.210, 2 channels (1 online)"
            with pytest.raises(AuthFailed):
                await check(config(device.url, password="nope"), client)
        async with DigestDevice(camera) as device:
            assert await check(config(device.url), client) == "Hikvision DS-2CD1023G2, firmware V4.62.210"
