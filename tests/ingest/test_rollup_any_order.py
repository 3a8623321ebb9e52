"""SPEC §5: "the same numbers must come out however the heartbeats arrived". Random heartbeat streams (gaps,
down verdicts, degraded pictures, duplicates) are delivered in random batches, in random order, with rollup
steps at random moments, into the real database; the stored intervals must equal the pure rules applied to
all the heartbeats at once."""

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.core import accounts
from services.core.uptime import Beat, spans
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatRow
from services.ingest.rollup import CAMERA_LOCK, rollup_all, rollup_step

pytestmark = pytest.mark.db
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def stream(rng: random.Random, camera: str, gateway_id: int) -> list[HeartbeatRow]:
    rows, t = [], 0
    for _ in range(rng.randint(1, 40)):
        t += rng.choice([60, 60, 60, 30, 90, 120, 121, 300, 900])
        status = rng.choices(["ok", "degraded", "down"], weights=[8, 1, 1])[0]
        state = {"ok": "up", "degraded": "degraded", "down": "down"}[status]
        ts = T0 + timedelta(seconds=t)
        rows.append(HeartbeatRow(camera, ts, status, state, None, None, None, gateway_id, "2024", "15865", ts))
    return rows


def assert_stored_as_the_rules_say(conn: psycopg.Connection, streams: dict[str, list[HeartbeatRow]], seed: int) -> None:
    for camera, rows in streams.items():
        expected = spans([Beat(r.ts, r.state) for r in rows], interval_s=60)
        stored = conn.execute(
            "SELECT start_ts, end_ts, state FROM camera_intervals WHERE camera_id = %s ORDER BY start_ts", (camera,)
        ).fetchall()
        assert [(r["start_ts"], r["end_ts"], r["state"]) for r in stored] == [
            (i.start, i.end, i.state) for i in expected
        ], f"seed {seed}, camera {camera}"


@pytest.mark.parametrize("seed", range(25))
def test_stored_intervals_do_not_depend_on_delivery_order(conn: psycopg.Connection, seed: int) -> None:
    rng = random.Random(seed)
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=["15865"])
    gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    streams = {f"c{i}": stream(rng, f"c{i}", gateway_id) for i in range(rng.randint(1, 4))}
    deliveries = [row for rows in streams.values() for row in rows]
    deliveries += rng.sample(deliveries, k=len(deliveries) // 5)  # duplicates, e.g. a replayed spool
    rng.shuffle(deliveries)
    while deliveries:
        batch = deliveries[: rng.randint(1, 15)]
        deliveries = deliveries[len(batch) :]
        write_batch(conn, batch)
        if rng.random() < 0.5:
            rollup_step(conn, limit=rng.randint(1, 3))
    rollup_all(conn)
    assert_stored_as_the_rules_say(conn, streams, seed)


@pytest.mark.parametrize("seed", range(10))
def test_time_running_forward_is_stored_by_the_writer_without_the_rollup(conn: psycopg.Connection, seed: int) -> None:
    """Batches in time order (each after the camera's last heartbeat) extend the stored intervals in the writer
    and queue nothing; a late heartbeat afterwards goes to the rollup; the result is the pure rules' either way."""
    rng = random.Random(seed)
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=["15865"])
    gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    streams = {f"c{i}": stream(rng, f"c{i}", gateway_id) for i in range(rng.randint(1, 4))}
    ordered = sorted((row for rows in streams.values() for row in rows), key=lambda r: r.ts)
    while ordered:
        batch = ordered[: rng.randint(1, 12)]
        ordered = ordered[len(batch) :]
        write_batch(conn, batch)
        assert conn.execute("SELECT count(*) AS n FROM camera_dirty").fetchone()["n"] == 0
    late = streams["c0"][len(streams["c0"]) // 2]
    gap = late._replace(ts=late.ts + timedelta(seconds=1), state="down", status="down")
    streams["c0"].append(gap)
    write_batch(conn, [gap])
    assert conn.execute("SELECT camera_id FROM camera_dirty").fetchall() == ([{"camera_id": "c0"}] if gap.ts < max(
        r.ts for r in streams["c0"]) else [])  # fmt: skip
    rollup_all(conn)
    assert_stored_as_the_rules_say(conn, streams, seed)


def test_a_rollup_step_leaves_a_camera_a_writer_holds_queued_instead_of_waiting(
    conn: psycopg.Connection, settings
) -> None:
    """The writer holds a camera's advisory lock while it extends it and may then wait on that camera's queue row;
    a rollup step must not wait for the lock while holding the row (a deadlock): it leaves the camera queued."""
    from services.core.db import connect

    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=["15865"])
    gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    rows = stream(random.Random(1), "c1", gateway_id)
    write_batch(conn, rows[1:])
    write_batch(conn, rows[:1])  # late: queued for the rollup
    assert conn.execute("SELECT count(*) AS n FROM camera_dirty").fetchone()["n"] == 1
    with connect(settings) as writer, connect(settings, autocommit=True) as rollup:
        writer.execute("SELECT pg_advisory_xact_lock(%s, hashtext('c1'))", (CAMERA_LOCK,))  # a writer mid-transaction
        rollup.execute("SET statement_timeout = '5s'")  # waiting would fail the test, not hang it
        assert rollup_step(rollup) == 0
        assert conn.execute("SELECT count(*) AS n FROM camera_dirty").fetchone()["n"] == 1
        writer.rollback()
        assert rollup_step(rollup) == 1
    assert_stored_as_the_rules_say(conn, {"c1": rows}, 1)
