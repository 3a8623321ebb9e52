"""Devices through the real path (SPEC §4 "Devices", §5): an emulated device on loopback speaks its own protocol
to the gateway's collector, whose heartbeats go through Kafka and ingest into TimescaleDB and come out of the API
as camera states, incidents and uptime seconds.

The collector stamps each event with the stack's clock when it arrives, so the test moves the clock, lets the
device say something, and waits until the collector has read it before moving on. Hours of device time take
seconds. Expected seconds are worked out by hand beside each scenario (I = G = 60 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from camera_gateway.devices.manager import DEVICE_HEARTBEATS, DeviceCollector
from services.core import accounts
from services.core.devices import add_device
from tests.camera_gateway.devices.emulator import DigestDevice, Request
from tests.e2e.conftest import T
from tests.e2e.harness import Stack, start_stack, until

pytestmark = [pytest.mark.db, pytest.mark.kafka]
UNIT = "15865"  # Bút Sơn
DEVICE_KEY = SecretStr("test-device-key-0123456789abcdefghijklmnop")
ISAPI_NS = "http://www.hikvision.com/ver20/XMLSchema"


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def hik_alert(event: str, state: str, channel: int | None = 1, count: int = 1) -> bytes:
    channel_xml = f"<channelID>{channel}</channelID>" if channel is not None else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\r\n<EventNotificationAlert version="2.0" xmlns="{ISAPI_NS}">\r\n'
        f"<ipAddress>192.168.1.64</ipAddress><portNo>80</portNo><protocol>HTTP</protocol>"
        f"<macAddress>44:19:b6:00:00:01</macAddress>{channel_xml}"
        f"<dateTime>2019-01-01T08:00:00+08:00</dateTime><activePostCount>{count}</activePostCount>"
        f"<eventType>{event}</eventType><eventState>{state}</eventState>"
        f"<eventDescription>{event} alarm</eventDescription>\r\n</EventNotificationAlert>\r\n"
    ).encode()


def hik_part(xml: bytes) -> bytes:
    return (
        b'--boundary\r\nContent-Type: application/xml; charset="UTF-8"\r\nContent-Length: '
        + str(len(xml)).encode()
        + b"\r\n\r\n"
        + xml
    )


@dataclass
class HikvisionNvr:
    """An NVR's alertStream: parts the test queues are written to the open stream as they come."""

    parts: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    device: DigestDevice | None = None

    async def handle(self, request: Request) -> None:
        if request.path != "/ISAPI/Event/notification/alertStream":
            await request.reply(404, b"<ResponseStatus><statusCode>4</statusCode></ResponseStatus>")
            return
        await request.start_stream("multipart/mixed; boundary=boundary")
        while True:
            await request.send(await self.parts.get())

    async def say(self, xml: bytes) -> None:
        await self.parts.put(hik_part(xml))


@pytest.fixture
async def nvr() -> AsyncIterator[HikvisionNvr]:
    emulated = HikvisionNvr()
    async with DigestDevice(emulated.handle) as device:
        emulated.device = device
        yield emulated


async def collector_stack(settings, conn, tmp_path, clock, device_url: str, **device) -> tuple[Stack, str]:
    token = accounts.create_gateway(conn, name="collector", unit_set="2024", unit_codes=[UNIT])
    settings = settings.model_copy(update={"device_key": DEVICE_KEY})
    add_device(conn, settings, name="nvr1", unit_set="2024", unit_code=UNIT, url=device_url, **device)
    stack = await start_stack(
        settings, conn, tmp_path, clock, collector_token=SecretStr(token), alert_tick_s=0.1, gateway_silence_s=300
    )
    return stack, token


def published() -> float:
    """Heartbeats the collector has handed to the publisher so far (in this process)."""
    return DEVICE_HEARTBEATS._value.get()


def collector_of(stack: Stack) -> DeviceCollector:
    return stack.gateway_app.state.collector


async def heard(stack: Stack, when: datetime) -> None:
    """Wait until the collector has read what the device said at `when` (and published its heartbeats)."""
    link = next(iter(collector_of(stack).links.values()))
    await until(lambda: link.last_seen == when and not link._lock.locked(), what=f"the device heard at {when}")


async def camera_seconds(stack: Stack, start: float, end: float) -> dict[str, dict]:
    body = await stack.api(
        "/api/v1/uptime", **{"from": at(start).isoformat(), "to": at(end).isoformat(), "group_by": "camera"}
    )
    return {i["camera_id"]: {k: i[k] for k in ("up_s", "degraded_s", "down_s", "unknown_s")} for i in body["items"]}


async def test_a_scripted_hour_of_an_nvr_gives_exactly_its_seconds_per_state(
    settings, conn, tmp_path, clock, nvr: HikvisionNvr
) -> None:
    assert nvr.device is not None
    before = published()  # every heartbeat the collector makes from here on (it starts with the stack)
    stack, token = await collector_stack(
        settings,
        conn,
        tmp_path,
        clock,
        nvr.device.url,
        kind="hikvision",
        username="admin",
        secret=nvr.device.password,
        channels={"2": "HH-BS-NVR-02"},
    )
    try:
        link = next(iter(collector_of(stack).links.values()))
        await until(lambda: link.state == "connected", what="the collector connected to the NVR")
        for second in range(0, 3001, 30):
            clock.now = at(second)
            # One part a step, so no two reads of the collector share an instant (the tracker makes one heartbeat
            # per camera per instant). Any part is a proof of life; in between, the NVR's own heartbeat:
            # videoloss inactive, activePostCount 0 (channel 1).
            if 1200 <= second < 1800:
                await nvr.say(hik_alert("videoloss", "active", channel=2, count=second // 30))
            elif second == 1800:
                await nvr.say(hik_alert("videoloss", "inactive", channel=2, count=20))
            elif 2400 <= second <= 2700:
                await nvr.say(hik_alert("shelteralarm", "active", channel=1))
            else:
                await nvr.say(hik_alert("videoloss", "inactive", count=0))
            await heard(stack, at(second))
        # The NVR falls silent after 3000; the collector's keep-alive moves the watermark to 3600.
        clock.now = at(3600)
        assert (await stack.keepalive(token, at(3600))).status_code == 202
        expected = published() - before
        try:
            await stack.settle(expected, watermarks={"collector": at(3600)}, timeout=60)
        except AssertionError:
            per_camera = stack.db().execute("SELECT camera_id, count(*) FROM heartbeats GROUP BY 1").fetchall()
            raise AssertionError(f"{expected} heartbeats published, stored: {per_camera}") from None
        got = await camera_seconds(stack, 0, 3600)
        # Channel 2 (mapped): beats every 60 s; down at 1200 (video loss), ok again at 1800 (inactive with a
        # count), last beat 3000 → up to 3060, then down to W = 3600 (600 > I + G).
        assert got["HH-BS-NVR-02"] == {"up_s": 1200 + 1260, "degraded_s": 0, "down_s": 600 + 540, "unknown_s": 0}
        # Channel 1 (unmapped: nvr1-ch1): covered at 2400, repeated to 2700; the alarm clears itself at the first
        # proof of life more than 60 s after its last repeat (2790). Beats at 2790, 2850, 2910, 2970 (3000 is
        # only 30 s after 2970): up to 3030, then down.
        assert got["nvr1-ch1"] == {"up_s": 2400 + 240, "degraded_s": 390, "down_s": 570, "unknown_s": 0}
        registered = stack.db().execute("SELECT unit_code, registered FROM cameras WHERE camera_id = 'nvr1-ch1'")
        assert registered.fetchone() == {"unit_code": UNIT, "registered": False}
    finally:
        await stack.close()


async def test_video_loss_on_a_channel_opens_an_incident_and_its_end_resolves_it(
    settings, conn, tmp_path, clock, nvr: HikvisionNvr
) -> None:
    assert nvr.device is not None
    stack, _ = await collector_stack(
        settings,
        conn,
        tmp_path,
        clock,
        nvr.device.url,
        kind="hikvision",
        username="admin",
        secret=nvr.device.password,
        channels={"2": "HH-BS-NVR-02"},
    )
    stack.start_alerts()
    try:
        link = next(iter(collector_of(stack).links.values()))
        await until(lambda: link.state == "connected", what="the collector connected to the NVR")

        async def step(second: int, alert: bytes | None = None) -> None:
            clock.now = at(second)
            await nvr.say(alert or hik_alert("videoloss", "inactive", count=0))  # an alarm, or the heartbeat
            await heard(stack, at(second))

        async def incidents(status: str) -> list[dict]:
            body = await stack.api("/api/v1/incidents", status=status)
            return [i for i in body["items"] if "HH-BS-NVR-02" in i["camera_ids"]]

        for second in range(0, 121, 30):
            await step(second)
        await until(lambda: camera_state_is(stack, "up"), what="HH-BS-NVR-02 up")
        await step(150, hik_alert("videoloss", "active", channel=2, count=1))
        await until(lambda: camera_state_is(stack, "down"), what="HH-BS-NVR-02 down in /api/v1/cameras")
        await until(lambda: incidents("open"), what="a camera_down incident for HH-BS-NVR-02")
        opened = (await incidents("open"))[0]
        assert opened["kind"] == "camera_down"
        await step(180, hik_alert("videoloss", "inactive", channel=2, count=2))
        await until(lambda: camera_state_is(stack, "up"), what="HH-BS-NVR-02 up again")
        await until(lambda: incidents("resolved"), what="the incident resolved")
        assert (await incidents("resolved"))[0]["id"] == opened["id"]
    finally:
        await stack.close()


async def camera_state_is(stack: Stack, state: str) -> bool:
    body = await stack.api("/api/v1/cameras/HH-BS-NVR-02")
    return body["state"] == state


def pushed_alarm(xml: bytes) -> tuple[bytes, str]:
    """What a camera set to 'HTTP listening' posts: multipart/form-data with the alert and a picture."""
    boundary = "----hikboundary7e1"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="MoveDetection.xml"; filename="MoveDetection.xml"\r\n'
        f"Content-Type: application/xml\r\nContent-Length: {len(xml)}\r\n\r\n"
    ).encode() + xml
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 2000 + b"\xff\xd9"
    body += (
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="detectionPicture"; filename="picture.jpg"\r\n'
        f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    ).encode() + jpeg
    body += f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def test_a_camera_behind_nat_pushes_its_alarms_to_the_gateway_with_its_path_token(
    settings, conn, tmp_path, clock
) -> None:
    token = accounts.create_gateway(conn, name="collector", unit_set="2024", unit_codes=[UNIT])
    device_settings = settings.model_copy(update={"device_key": DEVICE_KEY})
    push_token = add_device(
        conn,
        device_settings,
        kind="hikvision",
        name="cam-nat",
        unit_set="2024",
        unit_code=UNIT,
        url="http://10.0.0.9",
        username="admin",
        secret="never-used",
        channels={"1": "HH-BS-NAT-1"},
        push=True,
    )
    assert push_token
    stack = await start_stack(device_settings, conn, tmp_path, clock, collector_token=SecretStr(token))
    try:
        url = f"{stack.gateway_url}/v1/devices/{push_token}/events"
        before = published()
        for second, xml in [
            (0, hik_alert("videoloss", "inactive", count=0)),
            (30, hik_alert("videoloss", "active", channel=1)),
            (60, hik_alert("videoloss", "inactive", channel=1, count=3)),
        ]:
            clock.now = at(second)
            body, content_type = pushed_alarm(xml)
            answer = await stack.http.post(url, content=body, headers={"Content-Type": content_type})
            assert answer.status_code == 200 and answer.json() == {"events": 1}, answer.text
        # a bare XML body is read too; a hostile one is refused with a reason, and the device goes on
        clock.now = at(90)
        answer = await stack.http.post(url, content=hik_alert("videoloss", "inactive", count=0))
        assert answer.status_code == 200
        bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>'
        answer = await stack.http.post(url, content=bomb, headers={"Content-Type": "application/xml"})
        assert answer.status_code == 400 and "body:" in answer.json()["detail"]
        wrong = await stack.http.post(f"{stack.gateway_url}/v1/devices/pdv_wrong/events", content=b"<x/>")
        assert wrong.status_code == 404
        clock.now = at(120)
        assert (await stack.keepalive(token, at(120))).status_code == 202
        await stack.settle(int(published() - before), watermarks={"collector": at(120)}, timeout=60)
        got = await camera_seconds(stack, 0, 120)
        # beats at 0 (ok), 30 (down), 60 (ok), 90 is only 30 s after 60 (no beat); W = 120: up to 120
        assert got["HH-BS-NAT-1"] == {"up_s": 30 + 60, "degraded_s": 0, "down_s": 30, "unknown_s": 0}
        listed = await stack.api("/api/v1/devices")
        assert [(d["name"], d["pushes"]) for d in listed["items"]] == [("cam-nat", True)]
        assert "never-used" not in str(listed) and push_token not in str(listed)
    finally:
        await stack.close()
