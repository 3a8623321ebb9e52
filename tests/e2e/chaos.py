"""Fault injection under load with exact accounting, shared by the fault tests (one broker and PostgreSQL:
test_faults.py; a three-broker cluster: test_cluster_faults.py)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from services.core.settings import Settings
from services.core.uptime import Beat, beat_state, spans
from tests.e2e.harness import DISTRICT_EVENTS, Stack, free_port, start_stack, until
from tests.e2e.load import CAMERA_GONE, Load
from tests.processes import database_env, pulse_command

if TYPE_CHECKING:
    from tests.e2e.instances import AlertsProcesses, GatewayProcesses, IngestProcesses

KEY = "chaos-pseudonym-key-for-tests-only"

# Camera incidents opened during a fault test: there must be none, since every camera kept beating (a fault in
# the pipeline is not a camera going down).
CAMERA_INCIDENT_KINDS = "('camera_down', 'camera_degraded', 'commune_outage')"
CAMERA_INCIDENTS = f"SELECT count(*) AS n FROM incidents WHERE kind IN {CAMERA_INCIDENT_KINDS}"


def check_intervals_match_heartbeats(conn) -> None:
    """After any fault the stored intervals equal what the pure rules give on the stored heartbeats."""
    by_camera = defaultdict(list)
    for r in conn.execute("SELECT camera_id, ts, status, quality FROM heartbeats"):
        by_camera[r["camera_id"]].append(Beat(r["ts"], beat_state(r["status"], r["quality"])))
    stored = defaultdict(list)
    for r in conn.execute("SELECT camera_id, start_ts, end_ts, state FROM camera_intervals ORDER BY start_ts"):
        stored[r["camera_id"]].append((r["start_ts"], r["end_ts"], r["state"]))
    for camera, bs in by_camera.items():
        assert stored[camera] == [(i.start, i.end, i.state) for i in spans(bs, interval_s=60)], camera


async def chaos_under_load(
    settings: Settings,
    conn,
    tmp_path,
    clock,
    *,
    crash: Callable[[Stack], object],
    recover: Callable[[Stack], object],
    felt: Callable[[Stack, Load], object],
    alerts: AlertsProcesses | None = None,
    gateways: GatewayProcesses | None = None,
    ingest: IngestProcesses | None = None,
) -> None:
    """Cameras and citizens keep sending (tests/e2e/load.py) while a server is crashed and, a while later, started
    again; `pulse alerts` judges the whole time. Afterwards: exactly the acknowledged heartbeats are stored, every
    event the apps tracked is stored once and counted once, intervals follow the rules, and the only camera
    incident is the one for the camera that really went silent before the crash.

    The stack runs every component in this process, but those given as processes of their own (which `crash`
    may kill): `alerts` (then the silent camera's message must be delivered exactly once, and no other's),
    `gateways` (the cameras post through their address list) and `ingest`."""
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        clock,
        ingest=ingest is None,
        gateway_send_timeout_s=1.0,
        pseudonym_key=SecretStr(KEY),
    )
    load = Load(stack, stack.gateway("gw", "15865"), tmp_path, send=gateways.push if gateways else None)
    processes = [group for group in (alerts, gateways, ingest) if group is not None]
    try:
        if alerts is None:
            stack.start_alerts()
        for group in processes:
            await asyncio.to_thread(group.start, stack)
        clock.advance(3600)
        load.start()
        gone = f"SELECT count(*) AS n FROM incidents WHERE kind = 'camera_down' AND camera_ids = ARRAY['{CAMERA_GONE}']"
        await until(lambda: stack.count(gone) == 1, timeout=90, what="the silent camera's incident")
        crashed_at = load.rounds
        await asyncio.to_thread(crash, stack)
        await until(lambda: load.rounds >= crashed_at + 60, timeout=120, what="ten minutes of load during the crash")
        await until(lambda: felt(stack, load), timeout=60, what="the crash to be felt")
        await asyncio.to_thread(recover, stack)
        recovered_at = load.rounds
        await until(lambda: load.rounds >= recovered_at + 30, timeout=120, what="load after the recovery")
        await load.finish()
        await stack.settle(len(load.heartbeats), timeout=180)
        stored = {(r["camera_id"], r["ts"]) for r in stack.db().execute("SELECT camera_id, ts FROM heartbeats")}
        assert stored == load.heartbeats
        check_intervals_match_heartbeats(stack.db())
        events = len(load.events_tracked)
        assert load.events_accepted == events == len(set(load.events_tracked))
        stored_events = lambda: stack.count("SELECT count(*) AS n FROM app_events")  # noqa: E731
        await until(lambda: stored_events() == events, timeout=120, what="every tracked event stored")
        ids = {str(r["event_id"]) for r in stack.db().execute("SELECT event_id FROM app_events")}
        assert ids == set(load.events_tracked)
        await until(lambda: stack.count(DISTRICT_EVENTS) == events, timeout=30, what="every event counted once")
        cameras = stack.db().execute(f"SELECT camera_ids FROM incidents WHERE kind IN {CAMERA_INCIDENT_KINDS}")
        assert [r["camera_ids"] for r in cameras] == [[CAMERA_GONE]]  # no false camera alerts
        if alerts is not None:
            await asyncio.to_thread(alerts.notified_once, stack, CAMERA_GONE)
    finally:
        await asyncio.to_thread(recover, stack)
        await load.close()
        for group in processes:
            await asyncio.to_thread(group.close)
        await stack.close()


async def terminate(processes: list[asyncio.subprocess.Process]) -> None:
    """Stop (SIGTERM) the components still running and wait for each: a test never leaves one behind."""
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)


def component_env(settings: Settings, **extra: str) -> dict[str, str]:
    """A component process's environment: the stack's database, Kafka and topics, a metrics port of its own."""
    return {
        **os.environ,
        **database_env(settings),
        "PULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PULSE_KAFKA_REPLICATION": str(settings.kafka_replication),
        "PULSE_KAFKA_PREFIX": settings.kafka_prefix,
        "PULSE_INGEST_METRICS_PORT": str(free_port()),
        "PULSE_LOG_LEVEL": "WARNING",
        **extra,
    }


async def start_component(settings: Settings, log, command: str, **env: str) -> asyncio.subprocess.Process:
    """`pulse <command>` as a process of its own on the stack's database and Kafka, its output in `log`."""
    environment = component_env(settings, **env)
    return await asyncio.create_subprocess_exec(*pulse_command(command), env=environment, stdout=log, stderr=log)


def check_stored_exactly_once(stack: Stack, acknowledged: int) -> None:
    """After a fault: each acknowledged heartbeat stored once, the intervals as the rules say, no camera alerted."""
    assert stack.count("SELECT count(DISTINCT (camera_id, ts)) AS n FROM heartbeats") == acknowledged
    check_intervals_match_heartbeats(stack.db())
    assert stack.count(CAMERA_INCIDENTS) == 0  # no false camera alerts
