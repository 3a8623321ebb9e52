"""The writer and the rollup against the real TimescaleDB: dedupe, auto-registration, late data corrected."""

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.core import accounts
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import JSONB_VERSION, HeartbeatRow, KeepAlive
from services.ingest.rollup import rollup_all

pytestmark = pytest.mark.db
T0 = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


@pytest.fixture
def gateway_id(conn: psycopg.Connection) -> int:
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=["15865"])
    return conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]


def row(gateway_id: int, camera: str, s: float, status: str = "ok", state: str = "up") -> HeartbeatRow:
    return HeartbeatRow(camera, at(s), status, state, None, None, None, gateway_id, "2024", "15865", at(s + 1))


def stored(conn: psycopg.Connection, camera: str) -> list[tuple[float, float, str]]:
    rows = conn.execute(
        "SELECT start_ts, end_ts, state FROM camera_intervals WHERE camera_id = %s ORDER BY start_ts", (camera,)
    ).fetchall()
    return [((r["start_ts"] - T0).total_seconds(), (r["end_ts"] - T0).total_seconds(), r["state"]) for r in rows]


def test_an_unknown_camera_is_registered_as_unregistered_under_its_gateway_unit(conn, gateway_id) -> None:
    write_batch(conn, [row(gateway_id, "cam-new", 0)])
    cam = conn.execute("SELECT unit_set, unit_code, registered, gateway_id FROM cameras").fetchone()
    assert (cam["unit_set"], cam["unit_code"], cam["registered"], cam["gateway_id"]) == (
        "2024",
        "15865",
        False,
        gateway_id,
    )


def test_duplicates_are_stored_once_and_counted(conn, gateway_id) -> None:
    first = write_batch(conn, [row(gateway_id, "c1", 0), row(gateway_id, "c1", 0), row(gateway_id, "c1", 60)])
    again = write_batch(conn, [row(gateway_id, "c1", 60), row(gateway_id, "c1", 120)])
    assert (first.inserted, first.duplicates) == (2, 1)
    assert (again.inserted, again.duplicates) == (1, 1)
    assert conn.execute("SELECT count(*) AS n FROM heartbeats").fetchone()["n"] == 3


def test_late_heartbeats_rewrite_only_the_spans_they_change(conn, gateway_id) -> None:
    write_batch(conn, [row(gateway_id, "c1", s) for s in (0, 60, 120)])
    write_batch(conn, [row(gateway_id, "c1", 600)])
    rollup_all(conn)
    # gap 120 → 600 > I + G: up [0, 180), down [180, 600)
    assert stored(conn, "c1") == [(0, 180, "up"), (180, 600, "down")]
    write_batch(conn, [row(gateway_id, "c1", s) for s in (540, 180, 300, 240, 420, 360, 480)])
    rollup_all(conn)
    assert stored(conn, "c1") == [(0, 600, "up")]
    # a late degraded heartbeat in the middle splits the run
    write_batch(conn, [row(gateway_id, "c1", 330, "degraded", "degraded")])
    rollup_all(conn)
    assert stored(conn, "c1") == [(0, 330, "up"), (330, 360, "degraded"), (360, 600, "up")]


def test_the_latest_heartbeat_and_the_watermark_only_move_forward(conn, gateway_id) -> None:
    write_batch(conn, [row(gateway_id, "c1", 600)])
    write_batch(conn, [row(gateway_id, "c1", 100, "down", "down")])
    status = conn.execute("SELECT first_ts, last_ts, last_state FROM camera_status").fetchone()
    assert (status["first_ts"], status["last_ts"], status["last_state"]) == (at(100), at(600), "up")
    assert conn.execute("SELECT watermark FROM gateways").fetchone()["watermark"] == at(600)
    write_batch(conn, [], [KeepAlive(gateway_id, at(900), at(901))])
    assert conn.execute("SELECT watermark FROM gateways").fetchone()["watermark"] == at(900)


def test_the_watermark_never_runs_ahead_of_when_the_gateway_received_the_data(conn, gateway_id) -> None:
    fast_clock = HeartbeatRow("c1", at(700), "ok", "up", None, None, None, gateway_id, "2024", "15865", at(610))
    write_batch(conn, [fast_clock])
    assert conn.execute("SELECT watermark FROM gateways").fetchone()["watermark"] == at(610)


def test_readings_are_stored_as_json_objects_on_the_fast_path_and_the_careful_one(conn, gateway_id) -> None:
    metrics, quality = {"fps": 25.0, "recording": True}, {"blur": 310.5, "frozen": False}
    as_json = {
        "metrics": JSONB_VERSION + json.dumps(metrics).encode(),
        "quality": JSONB_VERSION + json.dumps(quality).encode(),
    }  # as ingest has them
    fresh = row(gateway_id, "c1", 0)._replace(**as_json)
    assert write_batch(conn, [fresh]).inserted == 1  # nothing stored before: one COPY into heartbeats
    replay = row(gateway_id, "c1", 60)._replace(**as_json)
    assert write_batch(conn, [fresh, replay]).inserted == 1  # c1@0 again: the staging table and ON CONFLICT
    stored_rows = conn.execute(
        "SELECT jsonb_typeof(metrics) AS m, jsonb_typeof(quality) AS q, metrics, quality FROM heartbeats"
    ).fetchall()
    assert [(r["m"], r["q"], r["metrics"], r["quality"]) for r in stored_rows] == 2 * [
        ("object", "object", metrics, quality)
    ]
    status = conn.execute("SELECT last_ts, last_metrics, last_quality FROM camera_status").fetchone()
    assert (status["last_ts"], status["last_metrics"], status["last_quality"]) == (at(60), metrics, quality)
    dirty = conn.execute("SELECT from_ts, to_ts FROM camera_dirty").fetchone()
    assert (dirty["from_ts"], dirty["to_ts"]) == (at(0), at(60))


def test_a_batch_of_more_cameras_than_one_transaction_holds_is_written_whole(conn, gateway_id, monkeypatch) -> None:
    """A backlog spread over many cameras (150,000 once ran PostgreSQL's lock table out: one advisory lock per
    camera) is written a few thousand cameras a transaction; each camera's rows go together, so its intervals are
    the same as in one transaction, and the watermark moves once all are stored."""
    from services.ingest import heartbeat_writer

    monkeypatch.setattr(heartbeat_writer, "CAMERAS_PER_TRANSACTION", 3)
    conn.execute(
        "INSERT INTO cameras (camera_id, unit_set, unit_code, gateway_id) SELECT 'c' || g, '2024', '15865', %s"
        " FROM generate_series(1, 7) g",
        (gateway_id,),
    )
    rows = [row(gateway_id, f"c{c}", s) for s in (0, 60, 120, 600) for c in range(1, 8)]  # camera after camera
    assert write_batch(conn, rows).inserted == len(rows)
    assert write_batch(conn, rows).inserted == 0  # a replay of it: stored once
    for c in range(1, 8):
        assert stored(conn, f"c{c}") == [(0, 180, "up"), (180, 600, "down")], c  # I = G = 60 s
    assert conn.execute("SELECT watermark FROM gateways").fetchone()["watermark"] == at(600)


def test_parts_of_a_batch_keep_each_cameras_rows_together_in_order() -> None:
    from services.ingest.heartbeat_writer import by_camera, in_parts

    rows = [row(1, c, s) for s in (0, 60) for c in ("a", "b", "c", "d", "e")]
    parts = in_parts(by_camera(rows), 2)
    assert [[(r.camera_id, r.ts) for rs in p.values() for r in rs] for p in parts] == [
        [("a", at(0)), ("a", at(60)), ("b", at(0)), ("b", at(60))],
        [("c", at(0)), ("c", at(60)), ("d", at(0)), ("d", at(60))],
        [("e", at(0)), ("e", at(60))],
    ]
    assert in_parts(by_camera(rows), 5) == [by_camera(rows)] and in_parts(by_camera([]), 5) == []
