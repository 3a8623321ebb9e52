"""Incidents and notifications through the real path (SPEC §6): heartbeats pushed to the gateway, through Kafka
and ingest into TimescaleDB, judged by `pulse alerts` on the stack's clock, messages delivered to real local
servers — an SMTP server (aiosmtpd) and HTTP servers standing in for the webhook, Telegram and Zalo endpoints,
which record what they receive and can fail on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.alerts.channels import add_channel
from services.core import sealing
from services.core.maintenance import add_window
from tests.e2e.harness import Clock, Stack, free_port, start_stack, until
from tests.e2e.instances import alerts_leader
from tests.e2e.receivers import Receivers
from tests.processes import database_env, pulse_command

pytestmark = [pytest.mark.db, pytest.mark.kafka]
UNIT = "15865"  # Bút Sơn
SECRET = "webhook-secret"
FAST = {
    "gateway_silence_s": 300,
    "alert_group_wait_s": 30,
    "alert_tick_s": 0.1,
    "pipeline_stall_s": 1.5,
    "outage_min_cameras": 3,
}


async def alert_stack(settings, conn, tmp_path, clock, receivers: Receivers, **extra: Any) -> Stack:
    base = f"http://127.0.0.1:{receivers.port}"
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        clock,
        **{**FAST, **extra},
        telegram_api_base=base,
        zalo_api_base=base,
        smtp_host="127.0.0.1",
        smtp_port=receivers.smtp_port,
    )
    keys = sealing.keyring(settings)
    add_channel(conn, kind="webhook", target=f"{base}/hook", secret=SECRET, keys=keys)
    add_channel(conn, kind="telegram", target="-100123", secret="123:bot-token", keys=keys)
    add_channel(conn, kind="zalo", target="zalo-user-1", secret="oa-token", keys=keys)
    add_channel(conn, kind="email", target="truc-ban@hoanghoa.example")
    return stack


def cameras(n: int, prefix: str = "cam") -> list[str]:
    return [f"{prefix}-{i:02d}" for i in range(n)]


async def beat(stack: Stack, token: str, ids: list[str], **fields: Any) -> None:
    items = [{"camera_id": c, "ts": stack.clock.now.isoformat(), **fields} for c in ids]
    assert (await stack.push(token, items)).json()["accepted"] == len(items)


async def first_beats(stack: Stack, n: int) -> tuple[str, list[str]]:
    """A gateway of Bút Sơn and its n cameras, each with a first heartbeat stored."""
    token = stack.gateway("gw-bs", UNIT)
    fleet = cameras(n)
    await beat(stack, token, fleet)
    await until(lambda: _caught_up(stack), what="first heartbeats stored")
    return token, fleet


async def incidents(stack: Stack, **params: Any) -> list[dict]:
    return (await stack.api("/api/v1/incidents", **params))["items"]


async def run_minutes(stack: Stack, token: str, alive: list[str], minutes: int) -> None:
    """Advance the clock a minute at a time; the `alive` cameras beat each minute, and ingest catches up."""
    for _ in range(minutes):
        stack.clock.advance(60)
        await beat(stack, token, alive)
        await until(lambda: _caught_up(stack), what="ingest caught up")


def _caught_up(stack: Stack) -> bool:
    row = stack.db().execute("SELECT max(watermark) AS w FROM gateways").fetchone()
    return row["w"] is not None and row["w"] >= stack.clock.now


async def settle_alerts(stack: Stack) -> None:
    """Let the alerts engine run a few ticks on the current clock."""
    await asyncio.sleep(0.6)  # ok: six ticks of 0.1 s, to show that nothing (more) happens


async def test_one_silent_camera_is_one_incident_one_message_per_channel_and_one_resolved(
    settings, conn, tmp_path, clock, receivers
) -> None:
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        token, fleet = await first_beats(stack, 10)
        stack.start_alerts()
        await run_minutes(stack, token, fleet[:-1], 3)  # cam-09 is silent: 180 s > I + G = 120 s
        await until(lambda: stack.count("SELECT count(*) AS n FROM incidents") == 1, what="the incident")
        (incident,) = await incidents(stack, status="open")
        assert (incident["kind"], incident["camera_ids"], incident["unit_code"]) == ("camera_down", ["cam-09"], UNIT)
        # Nothing goes out before the group wait; after it, one message per channel.
        await settle_alerts(stack)
        assert receivers.texts() == []
        await run_minutes(stack, token, fleet[:-1], 1)
        await until(lambda: len(receivers.texts()) == 4, what="one message per channel")
        hook = receivers.webhooks()[0]
        assert (hook["event"], hook["kind"], hook["camera_ids"], hook["unit_name"]) == (
            "opened",
            "camera_down",
            ["cam-09"],
            "Bút Sơn",
        )
        _path, headers, body = next(h for h in receivers.http if h[0] == "hook")
        assert headers["x-pulse-signature"] == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert all("Bút Sơn" in t and "Camera mất kết nối" in t and "cam-09" in t for t in receivers.texts())
        (mail,) = receivers.mail
        assert mail["Subject"] == "🔴 Bút Sơn: Camera mất kết nối"
        # The camera comes back: a resolved message on every channel, and nothing else.
        await run_minutes(stack, token, fleet, 1)
        await until(lambda: len(receivers.texts()) == 8, what="resolved messages")
        assert sum("Đã khôi phục" in t for t in receivers.texts()) == 4
        (resolved,) = await incidents(stack, status="resolved")
        assert resolved["id"] == incident["id"]
        await run_minutes(stack, token, fleet, 2)
        await settle_alerts(stack)
        assert len(receivers.texts()) == 8
    finally:
        await stack.close()


async def test_ten_cameras_of_a_commune_silent_together_are_one_outage_message(
    settings, conn, tmp_path, clock, receivers
) -> None:
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        token, fleet = await first_beats(stack, 16)
        stack.start_alerts()
        await run_minutes(stack, token, fleet[10:], 4)  # ten of sixteen stop together (a power cut)
        await until(lambda: stack.count("SELECT count(*) AS n FROM incidents WHERE status = 'open'") >= 1,
                    what="the outage")  # fmt: skip
        await run_minutes(stack, token, fleet[10:], 1)
        await until(lambda: len(receivers.texts()) == 4, what="one outage message per channel")
        await settle_alerts(stack)
        open_ = await incidents(stack, status="open")
        assert [(i["kind"], len(i["camera_ids"])) for i in open_] == [("commune_outage", 10)]
        assert len(receivers.texts()) == 4
        assert all("Mất kết nối diện rộng" in t and "10 camera" in t for t in receivers.texts())
        assert {h["kind"] for h in receivers.webhooks()} == {"commune_outage"}
        await run_minutes(stack, token, fleet, 1)  # power is back
        await until(lambda: len(receivers.texts()) == 8, what="resolved")
        assert {h["event"] for h in receivers.webhooks()} == {"opened", "resolved"}
    finally:
        await stack.close()


async def test_a_silent_gateway_is_one_gateway_message_and_no_camera_message(
    settings, conn, tmp_path, clock, receivers
) -> None:
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        token = stack.gateway("gw-bs", UNIT)
        other = stack.gateway("gw-hg", "15871")
        fleet = cameras(6)
        await beat(stack, token, fleet)
        await beat(stack, other, ["hg-1"])
        await until(lambda: _caught_up(stack), what="first heartbeats stored")
        stack.start_alerts()
        for _ in range(7):  # gw-bs loses its uplink; gw-hg keeps the pipeline's watermark moving
            clock.advance(60)
            await beat(stack, other, ["hg-1"])
            await until(lambda: _caught_up(stack), what="ingest caught up")
        await until(lambda: stack.count("SELECT count(*) AS n FROM incidents") == 1, what="gateway_down")
        clock.advance(31)
        await beat(stack, other, ["hg-1"])
        await until(lambda: len(receivers.texts()) == 4, what="one gateway message per channel")
        await settle_alerts(stack)
        (incident,) = await incidents(stack)
        assert incident["kind"] == "gateway_down"
        assert all("Cổng thu thập không gửi dữ liệu" in t and "gw-bs" in t for t in receivers.texts())
        units = (await stack.api("/api/v1/units"))["items"]
        assert next(u for u in units if u["unit_code"] == UNIT)["cameras_unknown"] == 6
    finally:
        await stack.close()


async def test_stopped_ingest_is_pipeline_stalled_and_no_camera_message(
    settings, conn, tmp_path, clock, receivers
) -> None:
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        token, fleet = await first_beats(stack, 6)
        stack.start_alerts()
        await settle_alerts(stack)
        stack.stop_ingest.set()  # ingest stops; the gateway keeps accepting into Kafka
        for _ in range(2):
            clock.advance(60)
            await beat(stack, token, fleet)
        await until(
            lambda: stack.count("SELECT count(*) AS n FROM incidents WHERE kind = 'pipeline_stalled'") == 1,
            what="pipeline_stalled",
        )
        clock.advance(400)  # every camera's deadline and the gateway's silence pass, in the database's picture
        await beat(stack, token, fleet)
        await until(lambda: len(receivers.texts()) == 4, what="the pipeline message")
        await settle_alerts(stack)
        assert [i["kind"] for i in await incidents(stack)] == ["pipeline_stalled"]
        assert all("Hệ thống xử lý dữ liệu bị nghẽn" in t for t in receivers.texts())
    finally:
        await stack.close()


async def test_a_maintenance_window_sends_nothing_and_counts_as_maintenance(
    settings, conn, tmp_path, clock, receivers
) -> None:
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        token = stack.gateway("gw-bs", UNIT)
        fleet = cameras(4)
        t0 = clock.now
        await beat(stack, token, fleet)
        await until(lambda: _caught_up(stack), what="first heartbeats stored")
        add_window(conn, unit=("2024", UNIT), starts_at=t0 + timedelta(seconds=60), ends_at=t0 + timedelta(hours=1))
        stack.start_alerts()
        await run_minutes(stack, token, fleet[:1], 6)  # three of four silent, inside the window
        await settle_alerts(stack)
        assert await incidents(stack) == [] and receivers.texts() == []
        # Uptime (SPEC §5): the window's time is maintenance, whatever the heartbeats say. Each camera: up for its
        # first minute, maintenance for the next five; without the window the silent ones would be down.
        await until(lambda: stack.count("SELECT count(*) AS n FROM camera_dirty") == 0, what="rollup")
        window = {"from": t0.isoformat(), "to": (t0 + timedelta(seconds=360)).isoformat()}
        per_camera = (await stack.api("/api/v1/uptime", group_by="camera", **window))["items"]
        assert {(i["camera_id"], i["up_s"], i["maintenance_s"], i["down_s"], i["unknown_s"]) for i in per_camera} == {
            (c, 60, 300, 0, 0) for c in fleet
        }
        unit = next(i for i in (await stack.api("/api/v1/uptime", **window))["items"] if i["unit_code"] == UNIT)
        assert (unit["up_s"], unit["maintenance_s"], unit["down_s"], unit["availability"]) == (240, 1200, 0, 1.0)
    finally:
        await stack.close()


async def test_failed_deliveries_are_retried_and_sent_once(settings, conn, tmp_path, clock, receivers) -> None:
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        token, fleet = await first_beats(stack, 5)
        receivers.fail_next = 5  # the HTTP endpoints refuse the first five attempts
        stack.start_alerts()
        await run_minutes(stack, token, fleet[:-1], 4)
        for _ in range(12):  # retries back off 2, 4, 8 … s on the stack's clock
            clock.advance(10)
            await settle_alerts(stack)
        await until(lambda: len(receivers.texts()) == 4, what="every channel delivered once")
        failed = stack.count("SELECT sum(attempts - 1) AS n FROM notifications WHERE status = 'sent'")
        assert failed >= 5
        keys = [h["idempotency_key"] for h in receivers.webhooks()]
        assert len(keys) == len(set(keys)) == 1
    finally:
        await stack.close()


class WallClock(Clock):
    def __call__(self) -> datetime:
        return datetime.now(UTC)


async def test_two_alert_instances_one_killed_every_message_delivered_once(settings, conn, tmp_path, receivers) -> None:
    """Two `pulse alerts` processes on the wall clock; the leader is killed with SIGKILL while an incident waits
    for its message; the other takes over. Cameras beat every 0.5 s with I = 1 s, so deadlines pass in 2 s."""
    clock = WallClock(datetime.now(UTC))
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers, gateway_silence_s=10)
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        **database_env(settings),
        "PULSE_KAFKA_PREFIX": stack.settings.kafka_prefix,
        "PULSE_ALERT_TICK_S": "0.2",
        "PULSE_ALERT_GROUP_WAIT_S": "2",
        "PULSE_GATEWAY_SILENCE_S": "10",
        "PULSE_TELEGRAM_API_BASE": stack.settings.telegram_api_base,
        "PULSE_ZALO_API_BASE": stack.settings.zalo_api_base,
        "PULSE_SMTP_HOST": "127.0.0.1",
        "PULSE_SMTP_PORT": str(receivers.smtp_port),
        "PULSE_LOG_LEVEL": "WARNING",
    }
    procs: list[asyncio.subprocess.Process] = []
    alive = cameras(8)
    token = stack.gateway("gw-bs", UNIT)
    stop_beating = asyncio.Event()

    async def beating() -> None:
        while not stop_beating.is_set():
            await stack.push(token, [{"camera_id": c, "ts": datetime.now(UTC).isoformat()} for c in list(alive)])
            await asyncio.sleep(0.5)  # ok: the cameras' beat period on the wall clock

    def leader() -> int | None:
        return alerts_leader(ports, lambda i: procs[i].returncode is None)

    def opened(camera: str) -> list[dict]:
        return [h for h in receivers.webhooks() if h["event"] == "opened" and camera in h["camera_ids"]]

    beater = asyncio.create_task(beating())
    log = (tmp_path / "alerts.log").open("ab")
    try:
        await until(lambda: stack.count("SELECT count(*) AS n FROM cameras") == 8, what="cameras registered")
        conn.execute("UPDATE cameras SET interval_s = 1")
        for port in ports:
            environment = {**env, "PULSE_ALERTS_METRICS_PORT": str(port)}
            procs.append(
                await asyncio.create_subprocess_exec(*pulse_command("alerts"), env=environment, stdout=log, stderr=log)
            )
        (first,) = await until(lambda: (i,) if (i := leader()) is not None else None, timeout=30, what="a leader")
        alive.remove("cam-00")
        await until(lambda: len(opened("cam-00")) == 1, timeout=30, what="cam-00's message")
        alive.remove("cam-01")
        await until(lambda: stack.count("SELECT count(*) AS n FROM incidents WHERE 'cam-01' = ANY(camera_ids)") == 1,
                    what="cam-01's incident")  # fmt: skip
        procs[first].send_signal(signal.SIGKILL)  # before cam-01's message (group wait 2 s)
        await procs[first].wait()
        await until(lambda: leader() == 1 - first, timeout=30, what="the other instance to lead")
        await until(lambda: len(opened("cam-01")) == 1, timeout=30, what="cam-01's message from the new leader")
        alive.extend(["cam-00", "cam-01"])
        await until(
            lambda: (
                {c for h in receivers.webhooks() if h["event"] == "resolved" for c in h["camera_ids"]}
                == {"cam-00", "cam-01"}
            ),
            timeout=30,
            what="resolved messages",
        )
        await asyncio.sleep(3)  # ok: anything sent twice would arrive now
        hooks = receivers.webhooks()
        assert len(opened("cam-00")) == len(opened("cam-01")) == 1
        assert len([h for h in hooks if h["event"] == "resolved"]) in (1, 2)  # one per unit and tick
        keys = [h["idempotency_key"] for h in hooks]
        assert len(keys) == len(set(keys))
        assert {h["kind"] for h in hooks} == {"camera_down"}
    finally:
        stop_beating.set()
        await beater
        log.close()
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
                await asyncio.wait_for(p.wait(), 30)
        await stack.close()


async def test_a_flapping_camera_is_one_flapping_message(settings, conn, tmp_path, clock, receivers) -> None:
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        token, fleet = await first_beats(stack, 6)
        stack.start_alerts()
        await settle_alerts(stack)
        # cam-00 says down, then ok, then down … every 20 s: each outage is over before the group wait (30 s), so
        # nothing is said about them; the fifth change makes it flapping, which is said once.
        for step in range(1, 11):
            clock.advance(20)
            await beat(stack, token, fleet[1:])
            await beat(stack, token, fleet[:1], status="down" if step % 2 else "ok")
            await until(lambda: _caught_up(stack), what="ingest caught up")
            await settle_alerts(stack)
        await until(lambda: len(receivers.texts()) == 4, what="the flapping message")
        for _ in range(17):  # then it stays up: stable after 15 minutes
            await run_minutes(stack, token, fleet, 1)
            await settle_alerts(stack)
        assert stack.count("SELECT count(*) AS n FROM camera_flapping") == 0
        assert stack.count("SELECT count(*) AS n FROM incidents WHERE status = 'open'") == 0
        hooks = receivers.webhooks()
        assert [(h["event"], h["camera_ids"]) for h in hooks] == [("flapping", ["cam-00"])]
        assert len(receivers.texts()) == 4 and all("Chập chờn" in t for t in receivers.texts())
    finally:
        await stack.close()


async def test_the_monthly_report_is_mailed_on_the_first_day_of_the_month(
    settings, conn, tmp_path, clock, receivers
) -> None:
    """`pulse alerts` (its leader) issues last month's briefing once, to the channels that ask for it."""
    stack = await alert_stack(settings, conn, tmp_path, clock, receivers)
    try:
        add_channel(conn, kind="email", target="van-phong@hoanghoa.example", wants_reports=True)
        stack.start_alerts()  # 23:00 on 31 March: February's report is due (a catch-up), March's not yet

        def reports(month: str) -> list:
            return [m for m in receivers.mail if f"tháng {month}" in str(m["Subject"])]

        february = await until(lambda: reports("02/2024"), what="February's report mailed")
        assert february[0]["To"] == "van-phong@hoanghoa.example"
        names = sorted(p.get_filename() for p in february[0].iter_attachments())
        assert names == ["bao-cao-thang-2024-02-2024.pdf", "bao-cao-thang-2024-02-2024.xlsx"]
        assert reports("03/2024") == []
        clock.advance(3600)  # midnight in Hoằng Hóa: 1 April
        await until(lambda: reports("03/2024"), what="March's report mailed")
        await settle_alerts(stack)
        assert len(reports("03/2024")) == 1 and len(reports("02/2024")) == 1  # once each
        assert stack.count("SELECT count(*) AS n FROM reports WHERE scheduled") == 2
        # The alert channels without --reports (webhook, Telegram, Zalo, another mailbox) got nothing.
        assert receivers.http == [] and {m["To"] for m in receivers.mail} == {"van-phong@hoanghoa.example"}
    finally:
        await stack.close()
