"""Faults through the real path, with exact accounting: every heartbeat the gateway acknowledged (202) is
stored exactly once after Kafka is stopped or killed under load, after ingest is killed with SIGKILL, after
PostgreSQL crashes under load, in a consumer-group rebalance and after a gateway with a full spool is killed;
`pulse alerts` runs through each and must open no camera incident for a camera that kept beating.

These tests stop and start the shared local broker and database (services.infra.local), so they restore them
before they end; each waits for its condition with a deadline.
"""

import asyncio
import multiprocessing
import os
import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from bench.procs import children_of
from services.core import kafka
from services.core.db import connect
from services.core.failover import Endpoints
from services.infra.kafka import Kafka
from services.infra.local import Postgres
from tests.e2e.chaos import (
    CAMERA_INCIDENTS,
    chaos_under_load,
    check_intervals_match_heartbeats,
    check_stored_exactly_once,
    component_env,
    start_component,
    terminate,
)
from tests.e2e.conftest import T
from tests.e2e.harness import Stack, free_port, start_stack, until
from tests.e2e.load import Load
from tests.processes import pulse_command

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def beats(cameras: int, per_camera: int, start_s: int = 0) -> list[dict]:
    return [
        {"camera_id": f"cam-{c:04d}", "ts": (T + timedelta(seconds=start_s + 60 * i)).isoformat()}
        for i in range(per_camera)
        for c in range(cameras)
    ]


async def test_heartbeats_accepted_while_kafka_is_down_are_spooled_and_all_stored(
    settings, base_settings, conn, tmp_path, clock
) -> None:
    stack = await start_stack(settings, conn, tmp_path, clock, gateway_send_timeout_s=1.0)
    kafka = Kafka(base_settings)
    try:
        token = stack.gateway("gw", "15865")
        stack.start_alerts()
        clock.advance(3600)
        before = beats(50, 5)
        assert (await stack.push(token, before)).json()["accepted"] == 250
        await stack.settle(250)
        await asyncio.to_thread(kafka.stop)
        during = beats(50, 5, start_s=300)
        for chunk in (during[:100], during[100:]):
            response = await stack.push(token, chunk)
            assert response.status_code == 202 and response.json()["accepted"] == len(chunk)
        publisher = stack.gateway_app.state.publisher
        # the 250 heartbeats are in two messages, one per request (wire version 2)
        assert publisher.spooling and publisher.spool.pending_records == 2
        assert (await stack.http.get(f"{stack.gateway_url}/readyz")).status_code == 503
        # Meanwhile the pipeline knows the cameras up to the watermark (240 s) only: the rest is unknown.
        window = {"from": T.isoformat(), "to": (T + timedelta(seconds=600)).isoformat(), "group_by": "camera"}
        seen = {i["camera_id"]: i for i in (await stack.api("/api/v1/uptime", **window))["items"]}
        assert (seen["cam-0000"]["up_s"], seen["cam-0000"]["unknown_s"]) == (240, 360)
        await asyncio.to_thread(kafka.start)
        await until(lambda: publisher.spool.is_empty(), timeout=120, what="the spool to drain")
        after = beats(50, 2, start_s=600)
        assert (await stack.push(token, after)).json()["accepted"] == 100
        await stack.settle(600, timeout=90)
        # The spool's replay turned that unknown time into up: beats every 60 s from 0 to 660.
        seen = {i["camera_id"]: i for i in (await stack.api("/api/v1/uptime", **window))["items"]}
        assert all((i["up_s"], i["unknown_s"], i["down_s"]) == (600, 0, 0) for i in seen.values())
        assert len(seen) == 50
        check_stored_exactly_once(stack, 600)
    finally:
        await asyncio.to_thread(kafka.start)
        await stack.close()


async def test_ingest_killed_mid_stream_and_restarted_stores_everything_once(settings, conn, tmp_path, clock) -> None:
    stack = await start_stack(settings, conn, tmp_path, clock, ingest=False)
    # Kafka messages of 100 heartbeats each (below): 60 batches
    env = component_env(stack.settings, PULSE_INGEST_BATCH_MAX="4")
    command = pulse_command("ingest")
    try:
        token = stack.gateway("gw", "15865")
        stack.start_alerts()  # judging the whole time: a stalled pipeline is not a camera going down
        clock.advance(7200)
        # 24,000 heartbeats, each two minutes' after the next two's (a batch holds two minutes): late heartbeats all
        # along, so the rollup's process (started when its queue first holds work) runs while ingest is killed
        sent = [beat for m in range(0, 120, 4) for beat in beats(200, 2, start_s=60 * (m + 2)) + beats(200, 2, 60 * m)]
        for i in range(0, len(sent), 100):
            assert (await stack.push(token, sent[i : i + 100])).json()["accepted"] == 100
        log = tmp_path / "ingest.log"
        with log.open("ab") as out:
            first = await asyncio.create_subprocess_exec(*command, env=env, stdout=out, stderr=out)
            try:
                await until(lambda: children_of(first.pid), timeout=60, what="the rollup's own process")
                orphans = children_of(first.pid)
            finally:  # never left running (on this test's database) if the wait above fails
                first.send_signal(signal.SIGKILL)
                await asyncio.wait_for(first.wait(), 30)
            await until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in orphans), what="no orphan left")
            killed_at = stack.stored()
            assert 0 < killed_at < len(sent), "the kill should land while the stream is being ingested"
            second = await asyncio.create_subprocess_exec(*command, env=env, stdout=out, stderr=out)
            try:
                await stack.settle(len(sent), timeout=120)
            finally:
                second.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(second.wait(), 60)
        assert code == 0, log.read_text()
        check_intervals_match_heartbeats(stack.db())
        assert stack.count(CAMERA_INCIDENTS) == 0  # no false camera alerts
    finally:
        await stack.close()


async def test_kafka_killed_under_load_loses_nothing_acknowledged(settings, base_settings, conn, tmp_path, clock):
    kafka = Kafka(base_settings)

    def felt(stack: Stack, load: Load) -> bool:  # the gateway spooled and the apps were told to retry
        return stack.gateway_app.state.publisher.spooling and load.flushes_deferred > 0

    await chaos_under_load(
        settings,
        conn,
        tmp_path,
        clock,
        crash=lambda _: kafka.stop(kill=True),
        recover=lambda _: kafka.start(),
        felt=felt,
    )


async def test_postgresql_crashed_under_load_loses_nothing_acknowledged(settings, base_settings, conn, tmp_path, clock):
    postgres = Postgres(base_settings)
    await chaos_under_load(
        settings,
        conn,
        tmp_path,
        clock,
        crash=lambda _: postgres.stop(mode="immediate"),
        recover=lambda _: postgres.start(),
        felt=lambda stack, load: stack.stored() == -1,  # the database does not answer
    )


async def test_a_rebalance_between_two_ingest_processes_stores_everything_once(settings, conn, tmp_path, clock) -> None:
    """A second `pulse ingest` joins the consumer group mid-stream (a rebalance), then the first leaves (another):
    every acknowledged heartbeat is stored once and the intervals follow the rules."""
    stack = await start_stack(settings, conn, tmp_path, clock, ingest=False)
    procs = []
    log = (tmp_path / "ingest.log").open("ab")

    async def ingest() -> asyncio.subprocess.Process:
        return await start_component(stack.settings, log, "ingest", PULSE_INGEST_BATCH_MAX="300")

    try:
        token = stack.gateway("gw", "15865")
        stack.start_alerts()
        clock.advance(7200)
        sent = beats(150, 60)  # 9,000 heartbeats, in three waves
        waves = [sent[:3000], sent[3000:6000], sent[6000:]]
        for i in range(0, 3000, 1000):
            assert (await stack.push(token, waves[0][i : i + 1000])).json()["accepted"] == 1000
        procs.append(await ingest())
        await until(lambda: stack.stored() >= 500, timeout=60, what="the first ingest to store")
        procs.append(await ingest())
        for i in range(0, 3000, 1000):
            assert (await stack.push(token, waves[1][i : i + 1000])).json()["accepted"] == 1000
        await until(lambda: stack.stored() >= 4000, timeout=90, what="both ingests to store")
        procs[0].send_signal(signal.SIGTERM)  # leaves the group: its partitions move to the other
        assert await asyncio.wait_for(procs[0].wait(), 60) == 0
        for i in range(0, 3000, 1000):
            assert (await stack.push(token, waves[2][i : i + 1000])).json()["accepted"] == 1000
        await stack.settle(len(sent), timeout=120)
        check_stored_exactly_once(stack, len(sent))
    finally:
        await terminate(procs)
        log.close()
        await stack.close()


async def test_a_gateway_killed_with_a_full_spool_loses_nothing_it_acknowledged(
    settings, conn, tmp_path, clock
) -> None:
    """The gateway runs without Kafka (unreachable), spools until its bound and then answers 503; it is killed
    with SIGKILL; restarted with Kafka, it forwards the spool: exactly the acknowledged heartbeats are stored."""
    stack = await start_stack(settings, conn, tmp_path, clock)  # ingest runs; the stack's own gateway is unused
    stack.start_alerts(clock=lambda: datetime.now(UTC))  # judging on the wall clock, as this gateway runs
    token = stack.gateway("gw-spool", "15865")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    common = {
        "PULSE_GATEWAY_PORT": str(port),
        "PULSE_DATA_DIR": str(tmp_path / "gateway"),
        "PULSE_SPOOL_MAX_BYTES": str(1 << 20),
        "PULSE_GATEWAY_SEND_TIMEOUT_S": "0.5",
    }
    log = (tmp_path / "gateway.log").open("ab")  # closed in `finally`
    no_kafka = component_env(stack.settings, PULSE_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}", **common)
    gateway = await asyncio.create_subprocess_exec(
        *pulse_command("camera-gateway"), env=no_kafka, stdout=log, stderr=log
    )
    acknowledged = 0
    try:

        async def healthy() -> bool:
            try:
                return (await stack.http.get(f"{url}/healthz")).status_code == 200
            except Exception:
                return False

        await until(healthy, timeout=60, what="the gateway without Kafka")
        full = None
        start = datetime.now(UTC) - timedelta(days=1)  # this gateway runs on the wall clock: recent beats
        for batch in range(400):  # 1 MiB of spool holds a few thousand heartbeats
            ts = (start + timedelta(seconds=60 * batch)).isoformat()
            items = [{"camera_id": f"cam-{c:03d}", "ts": ts} for c in range(50)]
            response = await stack.http.post(
                f"{url}/v1/heartbeats", json={"heartbeats": items}, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code == 503:
                full = response
                break
            assert response.status_code == 202, response.text
            acknowledged += response.json()["accepted"]
        assert full is not None and int(full.headers["retry-after"]) > 0, "the spool should fill up"
        assert acknowledged > 0 and stack.stored() == 0
        gateway.send_signal(signal.SIGKILL)
        await asyncio.wait_for(gateway.wait(), 30)
        with_kafka = component_env(stack.settings, **common)
        gateway = await asyncio.create_subprocess_exec(
            *pulse_command("camera-gateway"), env=with_kafka, stdout=log, stderr=log
        )
        await stack.settle(acknowledged, timeout=120)
        check_stored_exactly_once(stack, acknowledged)
    finally:
        await terminate([gateway])
        log.close()
        await stack.close()


async def test_a_gateway_killed_while_its_client_fails_over_loses_nothing_it_acknowledged(
    settings, conn, tmp_path, clock
) -> None:
    """Two gateways behind one address list (`services.core.failover`, as the simulator and the app's reference
    client use it); the one in use is killed with SIGKILL while a request is on its way, and the client goes on
    with the other: exactly the heartbeats acknowledged (202) are stored, each once, and no camera is alerted."""
    stack = await start_stack(settings, conn, tmp_path, clock)  # ingest runs; the stack's own gateway is unused
    stack.start_alerts(clock=lambda: datetime.now(UTC))  # judging on the wall clock, as these gateways run
    token = {"Authorization": f"Bearer {stack.gateway('gw-pair', '15865')}"}
    ports = [free_port(), free_port()]
    log = (tmp_path / "gateways.log").open("ab")  # closed in `finally`
    gateways = []
    for i, port in enumerate(ports):  # each its own port and spool, as a second instance needs
        env = component_env(stack.settings, PULSE_GATEWAY_PORT=str(port), PULSE_DATA_DIR=str(tmp_path / f"gw{i}"))
        process = await asyncio.create_subprocess_exec(
            *pulse_command("camera-gateway"), env=env, stdout=log, stderr=log
        )
        gateways.append(process)
    endpoints = Endpoints([f"http://127.0.0.1:{port}" for port in ports])
    try:

        async def healthy(url: str) -> bool:
            try:
                return (await stack.http.get(f"{url}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        for url in endpoints.urls:
            await until(lambda url=url: healthy(url), timeout=60, what="both gateways")
        acknowledged: set[tuple[str, datetime]] = set()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=119)  # the last beat: about now
        for minute in range(120):
            ts = start + timedelta(minutes=minute)
            body = {"heartbeats": [{"camera_id": f"cam-{c:03d}", "ts": ts.isoformat()} for c in range(50)]}
            sending = asyncio.create_task(endpoints.post(stack.http, "/v1/heartbeats", json=body, headers=token))
            if minute == 40:
                await asyncio.sleep(0)  # ok: one turn of the loop, so the request is on its way when the gateway dies
                gateways[0].send_signal(signal.SIGKILL)
            response = await sending  # the second gateway is there: every request is answered by one of them
            assert response.status_code == 202 and response.json()["accepted"] == 50, response.text
            acknowledged |= {(f"cam-{c:03d}", ts) for c in range(50)}
        assert endpoints.current == 1, "the client should have moved to the second gateway"
        await stack.settle(len(acknowledged), timeout=120)
        stored = {(r["camera_id"], r["ts"]) for r in stack.db().execute("SELECT camera_id, ts FROM heartbeats")}
        assert stored == acknowledged  # the request the first gateway died with, sent again, is stored once
        check_intervals_match_heartbeats(stack.db())
        assert stack.count(CAMERA_INCIDENTS) == 0  # no false camera alerts
    finally:
        await terminate(gateways)
        log.close()
        await stack.close()


async def test_a_write_stuck_on_the_database_shows_as_consumer_lag(settings, conn, tmp_path, clock) -> None:
    """Ingest's lag is what is not yet stored, read on its own clock: a writer waiting on a lock is not hidden."""
    stack = await start_stack(settings, conn, tmp_path, clock)
    topic = kafka.topic(stack.settings, kafka.HEARTBEATS)

    def lag() -> float | None:
        return REGISTRY.get_sample_value("pulse_ingest_consumer_lag", {"topic": topic})

    blocker = connect(stack.settings)  # a transaction of its own, holding the lock until it ends
    try:
        token = stack.gateway("gw", "15865")
        clock.advance(3600)
        assert (await stack.push(token, beats(10, 1))).json()["accepted"] == 10
        await stack.settle(10)
        await until(lambda: lag() == 0, timeout=30, what="no lag once stored")
        blocker.execute("LOCK TABLE camera_status IN ACCESS EXCLUSIVE MODE")  # the writer updates it each batch
        assert (await stack.push(token, beats(50, 2, start_s=60))).json()["accepted"] == 100
        await until(lambda: lag() == 1, timeout=30, what="the stuck write to show as lag")  # one message of 100
        assert stack.stored() == 10
        blocker.rollback()
        await stack.settle(110)
        await until(lambda: lag() == 0, timeout=30, what="the lag to clear")
    finally:
        blocker.close()
        await stack.close()


async def test_the_rollup_process_killed_is_replaced_and_uptime_still_follows(
    settings, conn, tmp_path, clock, caplog
) -> None:
    """The rollup runs in a process of its own beside ingest's event loop, started when its queue first holds
    work; killed, it is replaced, and the queue it left in the database is worked off: the intervals still equal
    the pure rules."""
    stack = await start_stack(settings, conn, tmp_path, clock)
    try:
        token = stack.gateway("gw", "15865")
        clock.advance(3600)
        assert (await stack.push(token, beats(10, 3))).json()["accepted"] == 30
        await stack.settle(30)
        assert not multiprocessing.active_children(), "in-order heartbeats need no rollup process"
        # late heartbeats, between the stored ones: work for the rollup (in-order ones the writer stores itself)
        assert (await stack.push(token, beats(10, 3, start_s=30))).json()["accepted"] == 30
        await stack.settle(60)
        children = multiprocessing.active_children()  # the heartbeat pipeline's rollup process
        assert len(children) == 1
        os.kill(children[0].pid, signal.SIGKILL)
        assert (await stack.push(token, beats(10, 3, start_s=15))).json()["accepted"] == 30
        await stack.settle(90)
        check_intervals_match_heartbeats(conn)
        assert "the background process died; starting a new one" in caplog.text
        assert not children[0].is_alive()
    finally:
        await stack.close()
    assert not multiprocessing.active_children(), "ingest stopped and left a background process running"
