"""The day and hour rollups (migrations 0014, 0018) against the stored intervals they summarise, in the real
database — with the hours kept for all the data, and with none kept (part days read from the intervals): random
heartbeat streams across several local midnights, delivered out of order with rollups at random moments, cameras
that change unit or successor midway (their history must move), cameras installed or retired inside the window,
one deleted — then, for random windows (whole days, part days, most of a day, ending at the last heartbeat),
`uptime_days.key_seconds` must equal the intervals clipped in Python, before and after the changes are folded,
and `camera_state.unit_uptime` over every camera (the rollup) must equal it over an explicit id list (the
per-interval query)."""

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.core import accounts, camera_state, uptime_days
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatRow
from services.ingest.rollup import rollup_all, rollup_step
from tests.ingest.test_rollup_any_order import stream as short_stream

pytestmark = pytest.mark.db
T0 = datetime(2024, 5, 1, 15, 0, tzinfo=UTC)  # 22:00 in Hoằng Hóa: the streams cross local midnights
UNITS = ["15865", "15871", "15877"]


def stream(rng: random.Random, camera: str, gateway_id: int) -> list[HeartbeatRow]:
    rows, t = [], rng.randint(0, 3600)
    for _ in range(rng.randint(2, 60)):
        t += rng.choice([60, 60, 60, 120, 121, 900, 3600, 7200, 20000])
        status = rng.choices(["ok", "degraded", "down"], weights=[8, 1, 1])[0]
        state = {"ok": "up", "degraded": "degraded", "down": "down"}[status]
        ts = T0 + timedelta(seconds=t, microseconds=rng.choice([0, 0, 250_000, 1]))
        rows.append(HeartbeatRow(camera, ts, status, state, None, None, None, gateway_id, "2024", UNITS[0], ts))
    return rows


def clipped_by_key(conn: psycopg.Connection, a: datetime, b: datetime) -> dict:
    """Independently: every camera's stored intervals clipped to [a, b) and to its service period, in Python."""
    cams = {r["camera_id"]: r for r in conn.execute("SELECT * FROM cameras")}
    out: dict = defaultdict(lambda: defaultdict(int))
    for r in conn.execute("SELECT camera_id, start_ts, end_ts, state FROM camera_intervals"):
        c = cams.get(r["camera_id"])
        if c is None:
            continue
        lo = max(a, r["start_ts"], c["installed_at"] or a)
        hi = min(b, r["end_ts"], c["retired_at"] or b)
        if hi > lo:
            key = (c["unit_set"], c["unit_code"], c["successor_unit_code"] or "")
            out[key][r["state"]] += (hi - lo) // timedelta(microseconds=1)
    return {k: {s: v for s, v in per.items() if v} for k, per in out.items()}


def nonzero(result: dict) -> dict:
    return {k: {s: v for s, v in per.items() if v} for k, per in result.items() if any(per.values())}


def windows(rng: random.Random, last: datetime) -> list[tuple[datetime, datetime]]:
    midnight = datetime(2024, 5, 1, 17, 0, tzinfo=UTC)  # 2 May 00:00 local
    out = [
        (midnight, midnight + timedelta(days=2)),  # whole days
        (midnight + timedelta(hours=3), last),  # ends at the last stored end: the day less nothing
        (midnight + timedelta(hours=20), midnight + timedelta(days=1, hours=2)),  # two small pieces
        (midnight + timedelta(hours=1), midnight + timedelta(hours=23)),  # most of one day
        (T0 - timedelta(days=1), last + timedelta(days=1)),  # everything
    ]
    for _ in range(6):
        a = T0 + timedelta(seconds=rng.randint(-3600, 200_000), microseconds=rng.randint(0, 999_999))
        out.append((a, a + timedelta(seconds=rng.randint(1, 250_000))))
    return out


KEEP_ALL = timedelta(days=365 * 30)  # a fold that lets no hour of the tests' 2024 go


@pytest.mark.parametrize("hours", ["kept", "none"])
@pytest.mark.parametrize("seed", range(8))
def test_day_rollup_equals_the_intervals(conn: psycopg.Connection, seed: int, hours: str) -> None:
    rng = random.Random(seed)
    if hours == "none":
        uptime_days.keep_hours_since(conn, datetime.now(UTC))
    kept = KEEP_ALL if hours == "kept" else uptime_days.HOURS_KEPT
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=UNITS)
    gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    streams = {f"c{i}": stream(rng, f"c{i}", gateway_id) for i in range(rng.randint(3, 7))}
    deliveries = [row for rows in streams.values() for row in rows]
    deliveries += rng.sample(deliveries, k=len(deliveries) // 5)
    rng.shuffle(deliveries)
    cameras = sorted(streams)
    while deliveries:
        batch = deliveries[: rng.randint(1, 25)]
        deliveries = deliveries[len(batch) :]
        write_batch(conn, batch)
        if rng.random() < 0.5:
            rollup_step(conn, limit=rng.randint(1, 3))
        if (
            rng.random() < 0.15
        ):  # a camera moves to another unit, or is given a successor (official or not): its history moves
            conn.execute(
                "UPDATE cameras SET unit_code = %s, successor_unit_code = %s WHERE camera_id = %s",
                (rng.choice(UNITS), rng.choice([None, None, "15880", "X1"]), rng.choice(cameras)),
            )
        if rng.random() < 0.1:
            uptime_days.compact(conn, kept)
    rollup_all(conn)
    # updates of every kind: a state changed, an end moved back, a start moved (the writer only moves ends forward)
    some = conn.execute("SELECT camera_id, start_ts FROM camera_intervals ORDER BY camera_id, start_ts").fetchall()
    for row, change in zip(rng.sample(some, k=min(3, len(some))), (
            "state = CASE state WHEN 'down' THEN 'up' ELSE 'down' END",
            "end_ts = start_ts + (end_ts - start_ts) / 2",
            "start_ts = start_ts - interval '1 microsecond'",
        ), strict=False):  # fmt: skip
        conn.execute(
            f"UPDATE camera_intervals SET {change} WHERE camera_id = %s AND start_ts = %s",
            (row["camera_id"], row["start_ts"]),
        )
    service = T0 + timedelta(hours=rng.randint(1, 40))
    conn.execute("UPDATE cameras SET installed_at = %s WHERE camera_id = %s", (service, cameras[0]))
    conn.execute("UPDATE cameras SET retired_at = %s WHERE camera_id = %s", (service, cameras[1]))
    conn.execute("DELETE FROM cameras WHERE camera_id = %s", (cameras[2],))
    last = conn.execute("SELECT max(end_ts) AS t FROM camera_intervals").fetchone()["t"]

    for folded in (False, True):
        if folded:
            uptime_days.compact(conn, kept)
            assert conn.execute("SELECT count(*) AS n FROM uptime_day_changes").fetchone()["n"] == 0
            assert conn.execute("SELECT count(*) AS n FROM uptime_hour_changes").fetchone()["n"] == 0
            in_hours = conn.execute("SELECT count(*) AS n FROM uptime_hours").fetchone()["n"]
            assert (in_hours > 0) == (hours == "kept")
        for a, b in windows(rng, last):
            assert nonzero(uptime_days.key_seconds(conn, a, b)) == clipped_by_key(conn, a, b), (seed, folded, a, b)
            every = camera_state.unit_uptime(conn, a, b, view_set="2024", camera_ids=None, tz=uptime_days.zone(conn))
            listed = camera_state.unit_uptime(
                conn, a, b, view_set="2024", camera_ids=cameras, tz=uptime_days.zone(conn)
            )
            assert every.cameras == listed.cameras
            assert every.seconds.keys() == listed.seconds.keys()
            for code, per_state in every.seconds.items():
                for state, seconds in per_state.items():
                    assert seconds == pytest.approx(listed.seconds[code][state], abs=1e-6), (code, state, a, b)


def test_a_new_zone_rebuilds_the_days(conn: psycopg.Connection) -> None:
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=UNITS)
    gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    write_batch(conn, short_stream(random.Random(3), "c1", gateway_id))
    rollup_all(conn)
    day = datetime(2024, 5, 1, tzinfo=UTC)
    try:
        assert uptime_days.set_zone(conn, "UTC")
        assert not uptime_days.set_zone(conn, "UTC")
        days = conn.execute("SELECT DISTINCT day FROM uptime_days").fetchall()
        assert [r["day"] for r in days] == [day.date()]  # the stream lies within 1 May in UTC
        assert nonzero(uptime_days.key_seconds(conn, day, day + timedelta(days=1))) == clipped_by_key(
            conn, day, day + timedelta(days=1)
        )
    finally:
        uptime_days.set_zone(conn, "Asia/Ho_Chi_Minh")


def test_hours_behind_the_horizon_go_and_come_back(conn: psycopg.Connection) -> None:
    """The fold lets go of hours older than it keeps (and readers then read those part days from the intervals,
    exactly); keeping hours from earlier again rebuilds them from the intervals."""
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=UNITS)
    gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    write_batch(conn, stream(random.Random(5), "c1", gateway_id))
    rollup_all(conn)
    a, b = T0 + timedelta(hours=1, minutes=17), T0 + timedelta(hours=9, minutes=3)
    expected = clipped_by_key(conn, a, b)
    uptime_days.compact(conn, KEEP_ALL)
    before = conn.execute("SELECT count(*) AS n FROM uptime_hours").fetchone()["n"]
    assert before > 0
    assert nonzero(uptime_days.key_seconds(conn, a, b)) == expected

    uptime_days.compact(conn)  # the default: 35 days before the database's now, long after 2024
    assert uptime_days.hours_since(conn) > datetime.now(UTC) - uptime_days.HOURS_KEPT - timedelta(hours=1)
    assert conn.execute("SELECT count(*) AS n FROM uptime_hours").fetchone()["n"] == 0
    assert nonzero(uptime_days.key_seconds(conn, a, b)) == expected

    uptime_days.keep_hours_since(conn, T0 - timedelta(days=1))
    assert conn.execute("SELECT count(*) AS n FROM uptime_hours").fetchone()["n"] == before
    assert nonzero(uptime_days.key_seconds(conn, a, b)) == expected
