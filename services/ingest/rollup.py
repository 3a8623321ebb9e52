"""The rollup step: recompute the stored state intervals of cameras whose heartbeats changed.

Ingest queues (camera, from, to) in `camera_dirty` in the same transaction as the heartbeats. One step claims
up to `limit` cameras (`FOR UPDATE SKIP LOCKED`, so several ingest processes share the queue) whose per-camera
advisory lock is free (a writer extending the camera holds it: see heartbeat_writer), widens each
range to the neighbouring stored heartbeats — the spans that a new heartbeat can change are exactly those
between its neighbours — recomputes them with `services.core.uptime.spans`, and splices them into the stored
run-length intervals, keeping what lies outside the range. A per-camera advisory lock keeps two steps from
rewriting one camera at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from psycopg.rows import tuple_row

from services.core.db import DbConn, copy_in, one_row
from services.core.uptime import BY_TS, QUALITY_FLAGS, Beat, Interval, Timed, merge, spans, state_of

# Claimed in two statements: lock (skipping rows a writer holds), then delete what is now ours. In the one-statement
# form, DELETE … WHERE camera_id IN (SELECT … FOR UPDATE SKIP LOCKED), PostgreSQL may re-run the sub-select when a
# claimed row changed meanwhile (EvalPlanQual), and a writer waited behind such a claim for minutes once.
# The per-camera advisory lock (key CAMERA_LOCK, hashtext(camera_id)) that the rollup, ingest's writer and
# migration 0014's camera trigger (which spells the number out) take before rewriting a camera's intervals.
CAMERA_LOCK = 7370

_CLAIM = "SELECT camera_id, from_ts, to_ts FROM camera_dirty ORDER BY camera_id LIMIT %s FOR UPDATE SKIP LOCKED"
_UNQUEUE = "DELETE FROM camera_dirty WHERE camera_id = ANY(%s::text[])"

# Neighbours: the stored heartbeat just before the range and just after it (the range's own ends otherwise).
_REGIONS = """
SELECT d.camera_id, c.interval_s, c.grace_s,
       coalesce((SELECT h.ts FROM heartbeats h WHERE h.camera_id = d.camera_id AND h.ts < d.from_ts
                 ORDER BY h.ts DESC LIMIT 1), d.from_ts) AS lo,
       coalesce((SELECT h.ts FROM heartbeats h WHERE h.camera_id = d.camera_id AND h.ts > d.to_ts
                 ORDER BY h.ts LIMIT 1), d.to_ts) AS hi
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS d(camera_id, from_ts, to_ts)
JOIN cameras c ON c.camera_id = d.camera_id
"""

# Whether a quality flag is set is read in SQL, so the rollup never parses quality JSON in Python (it was
# the larger part of its cost); which flags count is `uptime.QUALITY_FLAGS`, and the rule stays `state_of`.
_FLAGGED = " OR ".join(f"coalesce((h.quality ->> '{flag}')::boolean, false)" for flag in QUALITY_FLAGS)
_BEATS = f"""
SELECT h.camera_id, h.ts, h.status, {_FLAGGED} AS flagged
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS r(camera_id, lo, hi)
JOIN heartbeats h ON h.camera_id = r.camera_id AND h.ts >= r.lo AND h.ts <= r.hi
"""  # noqa: S608 - built from the constant flag names only

# Stored intervals that overlap or touch a region (touching ones so that equal neighbours merge).
_STORED = """
SELECT i.camera_id, i.start_ts, i.end_ts, i.state
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS r(camera_id, lo, hi)
JOIN camera_intervals i ON i.camera_id = r.camera_id AND i.start_ts <= r.hi AND i.end_ts >= r.lo
"""

_INTERVAL_TYPES = ("text", "timestamptz", "timestamptz", "text")

_DELETE = """
DELETE FROM camera_intervals i USING unnest(%s::text[], %s::timestamptz[]) AS d(camera_id, start_ts)
WHERE i.camera_id = d.camera_id AND i.start_ts = d.start_ts
"""


def splice(stored: list[Interval], recomputed: list[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    """Replace [lo, hi) of the stored intervals with the recomputed ones; keep the rest. Pure."""
    kept: list[Interval] = []
    for iv in stored:
        if iv.start < lo:
            kept.append(Interval(iv.start, min(iv.end, lo), iv.state))
        if iv.end > hi:
            kept.append(Interval(max(iv.start, hi), iv.end, iv.state))
    return merge(kept + [Interval(max(i.start, lo), min(i.end, hi), i.state) for i in recomputed])


class Extension(NamedTuple):
    """How a camera's stored intervals grow with heartbeats that all come after its last one: the last stored
    interval's new end (None: left as it is) and the intervals to add."""

    last_end: datetime | None
    added: list[Interval]


def extend(
    last_beat: Beat | None,
    last_interval: Interval | None,
    beats: Sequence[Timed],
    *,
    interval_s: float,
    grace_s: float | None,
) -> Extension:
    """The spans from the stored last heartbeat hₙ through the new ones (all later than hₙ), joined to the stored
    last interval when it ends at hₙ in the same state — the same intervals `spans` gives for all the heartbeats at
    once (SPEC §5: the span from hᵢ to hᵢ₊₁ depends on those two only). Pure."""
    if last_beat is not None and last_interval is not None and last_interval.end == last_beat.ts:
        # The usual case, cheaply: every new heartbeat in the last interval's state, none later than I + G after
        # the one before — the last interval just ends at the newest heartbeat (what `spans` would give).
        limit = timedelta(seconds=interval_s + (interval_s if grace_s is None else grace_s))
        previous, steady = last_beat.ts, last_interval.state == last_beat.state
        for beat in sorted(beats, key=BY_TS) if steady else ():
            if beat.state != last_interval.state or beat.ts - previous > limit:
                steady = False
                break
            previous = beat.ts
        if steady:
            return Extension(previous, [])
    head = [last_beat] if last_beat is not None else []
    new = spans([*head, *beats], interval_s=interval_s, grace_s=grace_s)
    if new and last_interval is not None and last_interval.end == new[0].start and last_interval.state == new[0].state:
        return Extension(new[0].end, new[1:])
    return Extension(None, new)


def rollup_queued(conn: DbConn) -> bool:
    """Whether any camera waits for the rollup."""
    return one_row(conn, "SELECT EXISTS (SELECT 1 FROM camera_dirty) AS queued")["queued"]


def rollup_step(conn: DbConn, *, limit: int = 5000) -> int:
    """Recompute up to `limit` queued cameras; returns how many (0 when the queue is empty)."""
    with conn.transaction():
        claimed = conn.execute(_CLAIM, (limit,)).fetchall()
        if not claimed:
            return 0
        # Only the cameras whose lock is free now: one an ingest writer is extending stays queued for the next
        # step. Waiting for the writer here, while holding the queue rows that writer may be about to update,
        # would be a deadlock.
        held = {
            r["c"]
            for r in conn.execute(
                "SELECT c FROM unnest(%s::text[]) AS c WHERE pg_try_advisory_xact_lock(%s, hashtext(c))",
                ([r["camera_id"] for r in claimed], CAMERA_LOCK),
            )
        }
        claimed = [r for r in claimed if r["camera_id"] in held]
        if not claimed:
            return 0
        conn.execute(_UNQUEUE, (sorted(held),))
        regions = conn.execute(
            _REGIONS,
            ([r["camera_id"] for r in claimed], [r["from_ts"] for r in claimed], [r["to_ts"] for r in claimed]),
        ).fetchall()
        keys = ([r["camera_id"] for r in regions], [r["lo"] for r in regions], [r["hi"] for r in regions])
        beats: dict[str, list[Beat]] = defaultdict(list)
        stored: dict[str, list[Interval]] = defaultdict(list)
        with conn.cursor(row_factory=tuple_row) as cur:  # many rows: tuples, fetched at once, cost far less
            for camera_id, ts, status, flagged in cur.execute(_BEATS, keys).fetchall():
                beats[camera_id].append(Beat(ts, state_of(status, flagged=flagged)))
            for camera_id, start, end, state in cur.execute(_STORED, keys).fetchall():
                stored[camera_id].append(Interval(start, end, state))

        new_rows: list[tuple[str, datetime, datetime, str]] = []
        for region in regions:
            cid = region["camera_id"]
            recomputed = spans(beats[cid], interval_s=region["interval_s"], grace_s=region["grace_s"])
            for iv in splice(stored[cid], recomputed, region["lo"], region["hi"]):
                new_rows.append((cid, iv.start, iv.end, iv.state))
        old = [(cid, iv.start) for cid, ivs in stored.items() for iv in ivs]
        if old:
            conn.execute(_DELETE, ([o[0] for o in old], [o[1] for o in old]))
        if new_rows:
            copy_in(conn, "camera_intervals", ("camera_id", "start_ts", "end_ts", "state"), _INTERVAL_TYPES, new_rows)
        return len(claimed)


def rollup_all(conn: DbConn, *, limit: int = 5000) -> int:
    total = 0
    while n := rollup_step(conn, limit=limit):
        total += n
    return total
