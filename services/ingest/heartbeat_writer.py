"""Writes a batch of heartbeats in one transaction (the only I/O of heartbeat ingest besides Kafka).

Heartbeats go straight into the hypertable with one binary COPY, the fast path: replays and retries are the
exception. If any of them is already stored (or the batch holds one twice), the COPY fails on the unique index
(camera_id, ts); it is rolled back to a savepoint and the batch goes the careful way instead — COPY into a
temporary staging table, then `INSERT … ON CONFLICT DO NOTHING`. Then, from a per-camera summary of the batch
made in Python (`summarize`, a few thousand rows instead of tens of thousands): register unknown cameras
(`unregistered`, under the delivering gateway's unit), record the latest heartbeat per camera, queue the
touched time ranges for the rollup, and move each gateway's watermark. Everything or nothing: the consumer
commits Kafka offsets only after this transaction has committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple

import psycopg
from psycopg.rows import tuple_row

from services.core.db import DbConn, copy_in
from services.core.uptime import BY_TS, Beat, Interval
from services.ingest.heartbeats import HeartbeatRow, KeepAlive
from services.ingest.rollup import CAMERA_LOCK, extend

# The columns of `heartbeats` a row fills, and the types psycopg writes them as in binary COPY. The readings are
# in jsonb's binary form already (`HeartbeatRow`): as "bytea" psycopg passes them through in C, where its jsonb
# dumper is Python code run twice for every heartbeat. A row's COPY tuple is taken from it in C (`_AS_COPIED`).
COLUMNS = ("ts", "camera_id", "status", "seq", "metrics", "quality", "gateway_id", "received_at")
TYPES = ("timestamptz", "text", "text", "int8", "bytea", "bytea", "int8", "timestamptz")
_AS_COPIED = itemgetter(*(HeartbeatRow._fields.index(column) for column in COLUMNS))
_COLUMN_LIST = ", ".join(COLUMNS)

_CREATE_STAGE = "CREATE TEMP TABLE IF NOT EXISTS hb_stage (LIKE heartbeats) ON COMMIT DELETE ROWS"

_INSERT_FROM_STAGE = f"""
INSERT INTO heartbeats ({_COLUMN_LIST})
SELECT DISTINCT ON (camera_id, ts) {_COLUMN_LIST} FROM hb_stage ORDER BY camera_id, ts, received_at
ON CONFLICT (camera_id, ts) DO NOTHING
"""  # noqa: S608 - built from the constant column names only

# The batch's per-camera summary (`summarize`), copied in beside the heartbeats for the set-based statements.
_SUMMARY = {
    "camera_id": "text",
    "first_ts": "timestamptz",
    "last_ts": "timestamptz",
    "status": "text",
    "state": "text",
    "quality": "jsonb",
    "metrics": "jsonb",
    "gateway_id": "int8",
    "first_gateway_id": "int8",
    "unit_set": "text",
    "unit_code": "text",
}
# The readings are copied in jsonb's binary form, as "bytea" (see COLUMNS).
_SUMMARY_TYPES = ["bytea" if t == "jsonb" else t for t in _SUMMARY.values()]
_CREATE_SUMMARY = (
    f"CREATE TEMP TABLE IF NOT EXISTS hb_cameras ({', '.join(f'{c} {t}' for c, t in _SUMMARY.items())})"
    " ON COMMIT DELETE ROWS"
)

_REGISTER_UNKNOWN = """
INSERT INTO cameras (camera_id, unit_set, unit_code, registered, gateway_id)
SELECT s.camera_id, s.unit_set, s.unit_code, false, s.first_gateway_id
FROM hb_cameras s
WHERE NOT EXISTS (SELECT 1 FROM cameras c WHERE c.camera_id = s.camera_id)
ON CONFLICT (camera_id) DO NOTHING
"""

# Queued for the cameras whose heartbeats did not all come after their last one (late, out of order, replayed,
# or a rollup already pending): recomputing a range a replay did not change costs the rollup a little and is
# never wrong.
_QUEUE = """
INSERT INTO camera_dirty (camera_id, from_ts, to_ts)
SELECT camera_id, first_ts, last_ts FROM hb_cameras WHERE camera_id = ANY(%s::text[])
ON CONFLICT (camera_id) DO UPDATE
    SET from_ts = least(camera_dirty.from_ts, EXCLUDED.from_ts),
        to_ts = greatest(camera_dirty.to_ts, EXCLUDED.to_ts)
"""

# The in-order path (issue 19): what extending a camera's stored intervals needs, read after taking the cameras'
# rollup locks — the last heartbeat before this batch, I and G, whether a rollup is pending, and the last interval.
_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(c)) FROM unnest(%s::text[]) AS c ORDER BY c"
_EXTEND_INPUTS = """
SELECT s.camera_id, cs.last_ts, cs.last_state, c.interval_s, c.grace_s, d.camera_id IS NOT NULL AS queued,
       i.start_ts, i.end_ts, i.state
FROM hb_cameras s
JOIN cameras c ON c.camera_id = s.camera_id
LEFT JOIN camera_status cs ON cs.camera_id = s.camera_id
LEFT JOIN camera_dirty d ON d.camera_id = s.camera_id
LEFT JOIN LATERAL (SELECT start_ts, end_ts, state FROM camera_intervals ci WHERE ci.camera_id = s.camera_id
                   ORDER BY ci.start_ts DESC LIMIT 1) i ON true
"""
# The grown ends, copied in (binary COPY, C dumpers): as array parameters psycopg adapted every element in Python,
# 21 µs a camera for a province's 150,000.
_CREATE_ENDS = (
    "CREATE TEMP TABLE IF NOT EXISTS hb_ends (camera_id text, start_ts timestamptz, end_ts timestamptz)"
    " ON COMMIT DELETE ROWS"
)
_ENDS_TYPES = ("text", "timestamptz", "timestamptz")
_SET_END = """
UPDATE camera_intervals i SET end_ts = e.end_ts
FROM hb_ends e
WHERE i.camera_id = e.camera_id AND i.start_ts = e.start_ts
"""
_INTERVAL_COLUMNS = ("camera_id", "start_ts", "end_ts", "state")
_INTERVAL_TYPES = ("text", "timestamptz", "timestamptz", "text")

_LATEST = """
INSERT INTO camera_status AS cs (camera_id, first_ts, last_ts, last_status, last_state, last_quality, last_metrics)
SELECT camera_id, first_ts, last_ts, status, state, quality, metrics FROM hb_cameras
ON CONFLICT (camera_id) DO UPDATE SET
    first_ts = least(cs.first_ts, EXCLUDED.first_ts),
    last_ts = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_ts ELSE cs.last_ts END,
    last_status = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_status ELSE cs.last_status END,
    last_state = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_state ELSE cs.last_state END,
    last_quality = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_quality ELSE cs.last_quality END,
    last_metrics = CASE WHEN EXCLUDED.last_ts > cs.last_ts THEN EXCLUDED.last_metrics ELSE cs.last_metrics END,
    updated_at = now(),
    changed_xid = pg_current_xact_id()  -- what the API's live model re-reads (migration 0017)
WHERE EXCLUDED.last_ts > cs.last_ts OR EXCLUDED.first_ts < cs.first_ts
"""

_GATEWAY_OF_CAMERA = """
UPDATE cameras c SET gateway_id = s.gateway_id, updated_at = now()
FROM hb_cameras s
WHERE c.camera_id = s.camera_id AND c.gateway_id IS DISTINCT FROM s.gateway_id
"""

_WATERMARKS = """
UPDATE gateways g SET watermark = w.ts
FROM unnest(%s::bigint[], %s::timestamptz[]) AS w(gateway_id, ts)
WHERE g.gateway_id = w.gateway_id AND (g.watermark IS NULL OR g.watermark < w.ts)
"""


class CameraSummary(NamedTuple):
    """What one batch says about one camera."""

    camera_id: str
    first_ts: datetime
    last_ts: datetime
    latest: HeartbeatRow  # the heartbeat at last_ts (the first received, if several)
    first: HeartbeatRow  # the heartbeat at first_ts: an unknown camera is registered under its gateway's unit


def by_camera(rows: Iterable[HeartbeatRow]) -> dict[str, list[HeartbeatRow]]:
    """Each camera's rows, in the order received; the cameras in the order first seen. Pure. The batch is grouped
    once: its summary, its parts and the in-order extension all read the groups (grouping again for each cost
    ≈ 1 µs a heartbeat, most of it building a `Beat` per row)."""
    cameras: defaultdict[str, list[HeartbeatRow]] = defaultdict(list)
    for row in rows:
        cameras[row.camera_id].append(row)
    return cameras


def summarize(cameras: Mapping[str, Sequence[HeartbeatRow]]) -> list[CameraSummary]:
    """Per camera: earliest and latest heartbeat of the batch (of several at one second, the first received).
    Pure."""
    summaries = []
    for camera_id, rows in cameras.items():
        first, latest = min(rows, key=BY_TS), max(rows, key=BY_TS)
        summaries.append(CameraSummary(camera_id, first.ts, latest.ts, latest, first))
    return summaries


def watermarks(rows: Iterable[HeartbeatRow], keepalives: Iterable[KeepAlive]) -> dict[int, datetime]:
    """How far each gateway has delivered. Never ahead of the moment the gateway received the data: a camera
    clock up to 2 minutes fast must not make its neighbours look silent. Pure."""
    marks: dict[int, datetime] = {}
    items: list[HeartbeatRow | KeepAlive] = [*rows, *keepalives]
    for item in items:
        gateway_id, mark = item.gateway_id, min(item.ts, item.received_at)
        if gateway_id not in marks or mark > marks[gateway_id]:
            marks[gateway_id] = mark
    return marks


@dataclass(frozen=True)
class WriteResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


def copy_rows(conn: DbConn, table: str, rows: Sequence[HeartbeatRow]) -> None:
    """Binary COPY of heartbeats into `heartbeats` or a table like it (and nothing else)."""
    copy_in(conn, table, COLUMNS, TYPES, map(_AS_COPIED, rows))


def _insert(conn: DbConn, rows: Sequence[HeartbeatRow]) -> int:
    """Store the heartbeats not stored yet; returns how many were new."""
    try:
        with conn.transaction():  # a savepoint
            copy_rows(conn, "heartbeats", rows)
        return len(rows)
    except psycopg.errors.UniqueViolation:
        conn.execute(_CREATE_STAGE)
        copy_rows(conn, "hb_stage", rows)
        return conn.execute(_INSERT_FROM_STAGE).rowcount


def _extend_in_order(conn: DbConn, beats: Mapping[str, Sequence[HeartbeatRow]]) -> list[str]:
    """Extend the stored intervals of every camera whose heartbeats in this batch all come after its last stored
    one (most of them, most of the time: time runs forward) with `rollup.extend`, so the rollup never reads their
    heartbeats back; return the other cameras, for the rollup queue. Under the rollup's per-camera locks, so a
    rollup step and this never rewrite one camera at once."""
    conn.execute(_LOCK, (CAMERA_LOCK, list(beats)))
    late: list[str] = []
    ends: list[tuple[str, datetime, datetime]] = []
    added: list[tuple[str, datetime, datetime, str]] = []
    with conn.cursor(row_factory=tuple_row) as cur:
        inputs = cur.execute(_EXTEND_INPUTS).fetchall()
    for camera_id, last_ts, last_state, interval_s, grace_s, queued, iv_start, iv_end, iv_state in inputs:
        mine = beats[camera_id]
        last = Interval(iv_start, iv_end, iv_state) if iv_start is not None else None
        in_order = last_ts is None or min(mine, key=BY_TS).ts > last_ts
        # the stored intervals are those of the stored heartbeats: no rollup pending, the last one ends at hₙ
        settled = not queued and (last is None or last.end == last_ts)
        if not (in_order and settled) or (last_ts is None and last is not None):
            late.append(camera_id)
            continue
        grown = extend(
            Beat(last_ts, last_state) if last_ts is not None else None, last, mine, interval_s=interval_s,
            grace_s=grace_s,
        )  # fmt: skip
        if grown.last_end is not None and last is not None:
            ends.append((camera_id, last.start, grown.last_end))
        added.extend((camera_id, iv.start, iv.end, iv.state) for iv in grown.added)
    known = {i[0] for i in inputs}
    late.extend(c for c in beats if c not in known)  # not registered (cannot be): the rollup decides
    if ends:
        conn.execute(_CREATE_ENDS)
        copy_in(conn, "hb_ends", ("camera_id", "start_ts", "end_ts"), _ENDS_TYPES, ends)
        conn.execute(_SET_END)
    if added:
        copy_in(conn, "camera_intervals", _INTERVAL_COLUMNS, _INTERVAL_TYPES, added)
    return late


# Cameras written in one transaction at most. The writer holds an advisory lock per camera until it commits
# (`_extend_in_order`), and PostgreSQL keeps such locks in one shared table (max_locks_per_transaction ×
# max_connections slots): a backlog of 150,000 cameras in one batch ran out of it ("out of shared memory") and
# was retried for ever. Two writers and two rollup steps (5,000 cameras each) stay far below the 51,200 slots of
# the configuration the product ships (operations.md, PostgreSQL).
CAMERAS_PER_TRANSACTION = 4_000


def write_batch(conn: DbConn, rows: Sequence[HeartbeatRow], keepalives: Sequence[KeepAlive] = ()) -> WriteResult:
    """Store a batch. Up to CAMERAS_PER_TRANSACTION cameras in one transaction; a batch of more is written in
    several, each camera's rows in one of them, and the gateways' watermarks move in the last, once every
    heartbeat they vouch for is stored. The consumer commits the batch's offsets after the last; a crash between
    transactions replays the batch, and what was stored is stored once."""
    parts = in_parts(by_camera(rows), CAMERAS_PER_TRANSACTION)
    inserted = 0
    for part in parts[:-1]:
        with conn.transaction():
            inserted += _write_rows(conn, part)
    with conn.transaction():
        if parts:
            inserted += _write_rows(conn, parts[-1])
        marks = watermarks(rows, keepalives)
        conn.execute(_WATERMARKS, (list(marks), list(marks.values())))
    return WriteResult(received=len(rows), inserted=inserted)


def in_parts(cameras: dict[str, list[HeartbeatRow]], most: int) -> list[dict[str, list[HeartbeatRow]]]:
    """The cameras in parts of at most `most`, in their order. Pure."""
    if len(cameras) <= most:  # the usual case
        return [cameras] if cameras else []
    ids = list(cameras)
    return [{c: cameras[c] for c in ids[i : i + most]} for i in range(0, len(ids), most)]


def _write_rows(conn: DbConn, cameras: dict[str, list[HeartbeatRow]]) -> int:
    """The cameras' heartbeats, and what they change for them, inside the caller's transaction; returns how many
    were new."""
    conn.execute(_CREATE_SUMMARY)
    copy_in(
        conn,
        "hb_cameras",
        list(_SUMMARY),
        _SUMMARY_TYPES,
        (
            (c.camera_id, c.first_ts, c.last_ts, c.latest.status, c.latest.state, c.latest.quality,
             c.latest.metrics, c.latest.gateway_id, c.first.gateway_id, c.first.unit_set, c.first.unit_code)
            for c in summarize(cameras)
        ),
    )  # fmt: skip
    # Rows of `cameras` first, before `_extend_in_order` takes the cameras' advisory locks: an import that moves a
    # camera locks its row and then waits for that lock (migration 0014's trigger), so the other order could
    # deadlock.
    conn.execute(_REGISTER_UNKNOWN)
    conn.execute(_GATEWAY_OF_CAMERA)
    inserted = _insert(conn, [row for rows in cameras.values() for row in rows])
    late = _extend_in_order(conn, cameras)
    if late:
        conn.execute(_QUEUE, (late,))
    conn.execute(_LATEST)
    return inserted
