"""A Dahua NVR and an ONVIF camera through the real path, as `test_devices` does for a Hikvision NVR: the emulated
device speaks its own protocol to the gateway's collector, whose heartbeats go through Kafka and ingest into
TimescaleDB and come out of the API as uptime seconds, camera states and incidents.

Each step moves the clock, lets the device say exactly one thing, and waits until the collector has read it, so
every proof of life is stamped with the time the test chose:
- Dahua: one part of the eventManager stream per step (`Heartbeat`, or the `Code=…` record that replaces it at
  that moment). Its parts are reported one by one, and the tracker never gives a camera two heartbeats at one
  instant, so a `Heartbeat` and an alarm in the same instant would put the alarm's beat off to the next proof.
- ONVIF: one answered PullMessages per step (each one is a proof of life, with or without messages). The pull
  timeout, poll and lease are set far beyond the test's real duration, so a pull is answered only when the test
  says — an empty answer stands for "the pull's Timeout ran out" — and no GetSystemDateAndTime poll or renewal
  adds a proof of its own. After the last step the camera hangs: a pull already waiting is never answered.
Expected seconds are worked out by hand beside each scenario (I = G = 60 s; a channel gets a heartbeat at each
proof when its reading changed or 60 s passed since its last one; SPEC §5 for the seconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from lxml import etree

from camera_gateway.devices import dahua
from tests.camera_gateway.devices.emulator import DigestDevice, Request
from tests.camera_gateway.devices.onvif_emulator import OnvifDevice
from tests.e2e.harness import Stack, until
from tests.e2e.test_devices import at, camera_seconds, collector_of, collector_stack, heard, published

pytestmark = [pytest.mark.db, pytest.mark.kafka]
DAHUA_STREAM = "multipart/x-mixed-replace; boundary=myboundary"
DAHUA_HEARTBEAT_S = 30  # the device's own heartbeat period, asked for in the attach URL
ONVIF_SOURCE = "VideoSource_1"  # the video source token, as GetVideoSources lists it
# Far beyond the test's real duration: no empty pull, poll or renewal happens unless the test makes it.
ONVIF_OPTIONS = {"pull_timeout_s": 80, "poll_s": 3600, "subscription_s": 3600}


# --- the Dahua NVR ---------------------------------------------------------------------------------------------


def dahua_part(text: str) -> bytes:
    body = text.encode()
    head = f"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body + b"\r\n\r\n"


def dahua_code(code: str, action: str, index: int) -> str:
    """One `Code=` record; `index` is Dahua's 0-based channel index (index 1 is channel "2")."""
    return f"Code={code};action={action};index={index}"


@dataclass
class DahuaNvr:
    """eventManager.cgi's attach stream: each part the test queues is written to the open stream as it comes."""

    parts: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    device: DigestDevice | None = None

    async def handle(self, request: Request) -> None:
        if request.path != dahua.ATTACH_PATH:
            await request.reply(404, b"Error\r\nBad Request!\r\n", "text/plain")
            return
        expected = {"action": "attach", "codes": "[All]", "heartbeat": str(DAHUA_HEARTBEAT_S)}
        assert request.query == expected, request.query
        await request.start_stream(DAHUA_STREAM)
        # Until the collector hangs up (EOF), so no handler is left waiting on the queue after the test.
        gone = asyncio.ensure_future(request.reader.read())
        try:
            while True:
                part = asyncio.ensure_future(self.parts.get())
                await asyncio.wait({part, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not part.done():
                    part.cancel()
                    return
                await request.send(part.result())
        finally:
            gone.cancel()

    async def say(self, text: str) -> None:
        await self.parts.put(dahua_part(text))


@pytest.fixture
async def nvr() -> AsyncIterator[DahuaNvr]:
    emulated = DahuaNvr()
    async with DigestDevice(emulated.handle) as device:
        emulated.device = device
        yield emulated


async def dahua_stack(settings, conn, tmp_path, clock, nvr: DahuaNvr, channels: dict[str, str]) -> tuple[Stack, str]:
    assert nvr.device is not None
    return await collector_stack(
        settings,
        conn,
        tmp_path,
        clock,
        nvr.device.url,
        kind="dahua",
        username="admin",
        secret=nvr.device.password,
        channels=channels,
        options={"heartbeat_s": DAHUA_HEARTBEAT_S},
    )


# --- the ONVIF camera ------------------------------------------------------------------------------------------


def onvif_message(topic: str, state: bool, *, source: str = ONVIF_SOURCE, operation: str = "Changed") -> str:
    """A property event as cameras send it; UtcTime is the camera's own (wrong) clock, which nobody reads."""
    return (
        "<wsnt:NotificationMessage>"
        f'<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">{topic}</wsnt:Topic>'
        f'<wsnt:Message><tt:Message UtcTime="2019-01-01T08:00:00Z" PropertyOperation="{operation}">'
        f'<tt:Source><tt:SimpleItem Name="Source" Value="{source}"/></tt:Source>'
        f'<tt:Data><tt:SimpleItem Name="State" Value="{str(state).lower()}"/></tt:Data>'
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


SIGNAL_LOSS = "tns1:VideoSource/SignalLoss"
BLURRY = "tns1:VideoSource/ImageTooBlurry/ImagingService"


@dataclass
class PacedOnvifDevice(OnvifDevice):
    """The emulator, answering a pull when the test says (`answer`) and able to hang (`hung`).

    `answer` waits until the collector's next PullMessages is waiting in the device, then queues the messages (none
    for an empty answer): a push while no pull waits would be dropped by the emulator if empty, or ride on a pull
    the collector makes later, at a time the test did not choose.
    """

    pulls_waiting: int = 0
    hung: bool = False

    async def _PullMessages(self, request: web.Request, op: etree._Element) -> web.Response:
        self.pulls_waiting += 1
        try:
            response = await super()._PullMessages(request, op)
        finally:
            self.pulls_waiting -= 1
        if self.hung:
            await asyncio.Event().wait()  # the answer never comes
        return response

    async def answer(self, *messages: str) -> None:
        await until(lambda: self.pulls_waiting == 1, what="the collector's PullMessages waiting in the camera")
        self.push(*messages)


@pytest.fixture
async def camera() -> AsyncIterator[PacedOnvifDevice]:
    async with PacedOnvifDevice() as device:
        yield device


async def onvif_stack(settings, conn, tmp_path, clock, camera: PacedOnvifDevice, camera_id: str) -> tuple[Stack, str]:
    return await collector_stack(
        settings,
        conn,
        tmp_path,
        clock,
        camera.url,
        kind="onvif",
        username=camera.username,
        secret=camera.password,
        channels={ONVIF_SOURCE: camera_id},
        options=ONVIF_OPTIONS,
    )


# --- shared --------------------------------------------------------------------------------------------------


async def connected(stack: Stack) -> None:
    link = next(iter(collector_of(stack).links.values()))
    await until(lambda: link.state == "connected", what="the collector connected to the device")


async def stored_seconds(stack: Stack, token: str, *, before: float, silent_until: int) -> dict[str, dict]:
    """The device has fallen silent; the collector's keep-alive moves the watermark to `silent_until`. Seconds
    per camera over [0, silent_until] once every published heartbeat is stored and rolled up."""
    stack.clock.now = at(silent_until)
    assert (await stack.keepalive(token, at(silent_until))).status_code == 202
    expected = published() - before
    try:
        await stack.settle(expected, watermarks={"collector": at(silent_until)}, timeout=60)
    except AssertionError:
        per_camera = stack.db().execute("SELECT camera_id, count(*) FROM heartbeats GROUP BY 1").fetchall()
        raise AssertionError(f"{expected} heartbeats published, stored: {per_camera}") from None
    got = await camera_seconds(stack, 0, silent_until)
    strays = sorted(c for c in got if c.startswith("nvr1-ch"))
    assert not strays, f"heartbeats for unmapped channels: {strays}"
    return got


async def camera_state(stack: Stack, camera_id: str) -> str:
    return (await stack.api(f"/api/v1/cameras/{camera_id}"))["state"]


async def camera_incidents(stack: Stack, camera_id: str, status: str) -> list[dict]:
    body = await stack.api("/api/v1/incidents", status=status)
    return [i for i in body["items"] if camera_id in i["camera_ids"]]


async def loss_opens_and_its_end_resolves_an_incident(
    stack: Stack, camera_id: str, step: Callable[[int, str | None], Awaitable[None]], loss: str, loss_ends: str
) -> None:
    """Proofs of life every 30 s to 120, video loss at 150 (down, `camera_down` opened), its end at 180 (up,
    resolved). `step(second, alarm)` sets the clock, lets the device say the alarm (or only that it is alive)
    and waits until the collector has read it."""
    await connected(stack)
    for second in range(0, 121, 30):
        await step(second, None)
    await until(lambda: camera_state_is(stack, camera_id, "up"), what=f"{camera_id} up")
    await step(150, loss)
    await until(lambda: camera_state_is(stack, camera_id, "down"), what=f"{camera_id} down in /api/v1/cameras")
    await until(lambda: camera_incidents(stack, camera_id, "open"), what=f"a camera_down incident for {camera_id}")
    [opened] = await camera_incidents(stack, camera_id, "open")
    assert opened["kind"] == "camera_down"
    await step(180, loss_ends)
    await until(lambda: camera_state_is(stack, camera_id, "up"), what=f"{camera_id} up again")
    await until(lambda: camera_incidents(stack, camera_id, "resolved"), what="the incident resolved")
    [resolved] = await camera_incidents(stack, camera_id, "resolved")
    assert resolved["id"] == opened["id"] and resolved["resolved_at"] is not None
    assert not await camera_incidents(stack, camera_id, "open")


async def camera_state_is(stack: Stack, camera_id: str, state: str) -> bool:
    return await camera_state(stack, camera_id) == state


# --- Dahua ---------------------------------------------------------------------------------------------------


async def test_a_scripted_half_hour_of_a_dahua_nvr_gives_exactly_its_seconds_per_state(
    settings, conn, tmp_path, clock, nvr: DahuaNvr
) -> None:
    before = published()
    stack, token = await dahua_stack(
        settings, conn, tmp_path, clock, nvr, channels={"1": "HH-BS-DH-01", "2": "HH-BS-DH-02"}
    )
    # What the NVR says at a moment instead of its heartbeat (index is 0-based: index 1 is channel 2).
    alarms = {
        630: dahua_code("VideoLoss", "Start", 1),
        990: dahua_code("VideoLoss", "Stop", 1),
        1230: dahua_code("VideoBlind", "Start", 0),
        1530: dahua_code("VideoBlind", "Stop", 0),
    }
    try:
        await connected(stack)
        for second in range(0, 1801, DAHUA_HEARTBEAT_S):
            clock.now = at(second)
            await nvr.say(alarms.get(second, "Heartbeat"))
            await heard(stack, at(second))
        # The NVR falls silent after 1800 (its stream stays open); the keep-alive moves the watermark to 2400.
        got = await stored_seconds(stack, token, before=before, silent_until=2400)
        # Channel 2: ok beats 0, 60 … 600; down at 630 (VideoLoss Start), then 690 … 930; ok at 990 (Stop), then
        # 1050 … 1770 (1800 is 30 s after 1770): up to 1770 + I = 1830, then down to W = 2400 (630 > I + G).
        assert got["HH-BS-DH-02"] == {"up_s": 630 + 840, "degraded_s": 0, "down_s": 360 + 570, "unknown_s": 0}
        # Channel 1: ok beats 0 … 1200 (630 and 990 are 30 s after one of them); degraded at 1230 (VideoBlind
        # Start: tamper), then 1290 … 1470; ok at 1530 (Stop), then 1590 … 1770: up to 1830, then down to 2400.
        assert got["HH-BS-DH-01"] == {"up_s": 1230 + 300, "degraded_s": 300, "down_s": 570, "unknown_s": 0}
        tampered = stack.db().execute(
            "SELECT ts, status, quality FROM heartbeats WHERE camera_id = 'HH-BS-DH-01' AND status = 'degraded'"
            " ORDER BY ts LIMIT 1"
        )
        assert tampered.fetchone() == {"ts": at(1230), "status": "degraded", "quality": {"obstructed": True}}
    finally:
        await stack.close()


async def test_video_loss_on_a_dahua_channel_opens_an_incident_and_its_end_resolves_it(
    settings, conn, tmp_path, clock, nvr: DahuaNvr
) -> None:
    stack, _ = await dahua_stack(settings, conn, tmp_path, clock, nvr, channels={"2": "HH-BS-DH-02"})
    stack.start_alerts()

    async def step(second: int, alarm: str | None) -> None:
        clock.now = at(second)
        await nvr.say(alarm or "Heartbeat")
        await heard(stack, at(second))

    try:
        await loss_opens_and_its_end_resolves_an_incident(
            stack,
            "HH-BS-DH-02",
            step,
            loss=dahua_code("VideoLoss", "Start", 1),
            loss_ends=dahua_code("VideoLoss", "Stop", 1),
        )
    finally:
        await stack.close()


# --- ONVIF ---------------------------------------------------------------------------------------------------


async def test_a_scripted_half_hour_of_an_onvif_camera_gives_exactly_its_seconds_per_state(
    settings, conn, tmp_path, clock, camera: PacedOnvifDevice
) -> None:
    before = published()  # before the stack: the camera's video sources are known (a heartbeat) as it connects
    stack, token = await onvif_stack(settings, conn, tmp_path, clock, camera, "HH-BS-ON-01")
    # The properties the camera announces on subscribing (both false), then its changes.
    messages = {
        0: [
            onvif_message(SIGNAL_LOSS, False, operation="Initialized"),
            onvif_message(BLURRY, False, operation="Initialized"),
        ],
        330: [onvif_message(SIGNAL_LOSS, True)],
        570: [onvif_message(SIGNAL_LOSS, False)],
        1050: [onvif_message(BLURRY, True)],
        1410: [onvif_message(BLURRY, False)],
    }
    try:
        await connected(stack)
        for second in range(0, 1801, 30):
            clock.now = at(second)
            await camera.answer(*messages.get(second, []))
            await heard(stack, at(second))
        camera.hung = True  # silent from 1800: the pull now waiting is never answered
        got = await stored_seconds(stack, token, before=before, silent_until=2400)
        # Ok beats 0, 60 … 300; down at 330 (SignalLoss true), then 390, 450, 510; ok at 570 (false), then 630 …
        # 990; degraded at 1050 (ImageTooBlurry true), then 1110 … 1350; ok at 1410 (false), then 1470 … 1770
        # (1800 is 30 s after 1770): up to 1770 + I = 1830, then down to W = 2400 (630 > I + G).
        assert got["HH-BS-ON-01"] == {
            "up_s": 330 + 480 + 420,
            "degraded_s": 360,
            "down_s": 240 + 570,
            "unknown_s": 0,
        }
        assert camera.lapsed_pulls == 0 and camera.auth_failures == 0
        assert "Renew" not in camera.calls and camera.calls.count("GetSystemDateAndTime") == 1  # the clock check
    finally:
        await stack.close()


async def test_signal_loss_on_an_onvif_source_opens_an_incident_and_its_end_resolves_it(
    settings, conn, tmp_path, clock, camera: PacedOnvifDevice
) -> None:
    stack, _ = await onvif_stack(settings, conn, tmp_path, clock, camera, "HH-BS-ON-01")
    stack.start_alerts()

    async def step(second: int, message: str | None) -> None:
        clock.now = at(second)
        await camera.answer(*([message] if message else []))
        await heard(stack, at(second))

    try:
        await loss_opens_and_its_end_resolves_an_incident(
            stack,
            "HH-BS-ON-01",
            step,
            loss=onvif_message(SIGNAL_LOSS, True),
            loss_ends=onvif_message(SIGNAL_LOSS, False),
        )
    finally:
        await stack.close()
