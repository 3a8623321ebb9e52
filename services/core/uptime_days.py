"""The day rollup (migration 0014): stored seconds per local day, camera key and state, for reading long windows
of many cameras without reading every interval.

A camera's key is (unit_set, unit_code, successor_code): what decides its unit in every set (`unit_key_views`).
Triggers keep `uptime_days` + `uptime_day_changes` equal to the stored intervals of the cameras that hold each key
now; `compact` folds the changes in. `key_seconds` sums a window: the local days wholly inside it from the rollup,
the rest from `camera_intervals` — a part-day piece either directly or, when it is most of its day, as the day
less its complement (a window ending now: the day less [now, midnight), where nothing is stored yet).
Microseconds, in integers, so that sums and the changes that undo each other stay exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from psycopg.rows import tuple_row

from services.core.db import DbConn, one_row

Key = tuple[str, str, str]  # unit_set, unit_code, successor_code ('' when none)
# One folder at a time. A key of its own: (7370, n) are the per-camera locks (7370, hashtext(camera_id)), and a
# camera whose id hashes to 1 would have shared the lock this used to be.
_COMPACT_LOCK = (7371, 0)


@dataclass(frozen=True)
class Pieces:
    """A window as whole rollup days and signed raw pieces: seconds = Σ days + Σ sign × raw(lo, hi)."""

    days: tuple[date, ...]
    raw: tuple[tuple[datetime, datetime, int], ...]


def pieces(start: datetime, end: datetime, tz: ZoneInfo) -> Pieces:
    """Cut [start, end) at local midnights of `tz`. Pure."""
    days: list[date] = []
    raw: list[tuple[datetime, datetime, int]] = []
    day = start.astimezone(tz).date()
    while True:
        lo = datetime.combine(day, time(0), tzinfo=tz)
        if lo >= end:
            break
        hi = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        a, b = max(start, lo), min(end, hi)
        if (a, b) == (lo, hi):
            days.append(day)
        elif 2 * (b - a) > hi - lo:  # most of the day: the day less what lies outside
            days.append(day)
            raw.extend((x, y, -1) for x, y in ((lo, a), (b, hi)) if y > x)
        else:
            raw.append((a, b, 1))
        day += timedelta(days=1)
    return Pieces(tuple(days), tuple(raw))


def zone(conn: DbConn) -> ZoneInfo:
    return ZoneInfo(one_row(conn, "SELECT tz FROM uptime_day_zone")["tz"])


def set_zone(conn: DbConn, tz: str) -> bool:
    """Count local days of `tz` from now on; rebuilds the rollup when the zone changes. True if it did."""
    with conn.transaction():
        if one_row(conn, "SELECT tz FROM uptime_day_zone FOR UPDATE")["tz"] == tz:
            return False
        conn.execute("UPDATE uptime_day_zone SET tz = %s", (tz,))
        conn.execute("SELECT uptime_days_rebuild()")
    return True


_FOLD = """
WITH moved AS (DELETE FROM uptime_day_changes RETURNING day, unit_set, unit_code, successor_code, state, micros)
INSERT INTO uptime_days AS d (day, unit_set, unit_code, successor_code, state, micros)
SELECT day, unit_set, unit_code, successor_code, state, sum(micros)::bigint FROM moved GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (day, unit_set, unit_code, successor_code, state) DO UPDATE SET micros = d.micros + EXCLUDED.micros
"""


def compact(conn: DbConn) -> int:
    """Fold the appended changes into `uptime_days`; skipped while another process folds. Rows written."""
    with conn.transaction():
        if not one_row(conn, "SELECT pg_try_advisory_xact_lock(%s, %s) AS ok", _COMPACT_LOCK)["ok"]:
            return 0
        return conn.execute(_FOLD).rowcount


_DAYS = """
SELECT unit_set, unit_code, successor_code, state, sum(micros)::bigint
FROM (SELECT unit_set, unit_code, successor_code, state, micros FROM uptime_days WHERE day = ANY(%(days)s)
      UNION ALL
      SELECT unit_set, unit_code, successor_code, state, micros FROM uptime_day_changes WHERE day = ANY(%(days)s)) d
GROUP BY 1, 2, 3, 4
"""

_MICROS = "(extract(epoch FROM least(i.end_ts, p.hi) - greatest(i.start_ts, p.lo)) * 1000000)"

# One raw piece: every camera's intervals as stored (no service period: see `_OUTSIDE_SERVICE`). One query per
# piece with its bounds as values, so that the planner can use the index on end_ts (the piece before midnight
# that a window ending now leaves out holds next to nothing).
_RAW = f"""
SELECT c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), i.state, sum({_MICROS})::bigint
FROM camera_intervals i
JOIN cameras c ON c.camera_id = i.camera_id
CROSS JOIN (SELECT %(lo)s::timestamptz AS lo, %(hi)s::timestamptz AS hi) AS p
WHERE i.end_ts > %(lo)s AND i.start_ts < %(hi)s
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - a constant expression

# What the rollup counts that a figure must not: stored time of a camera before its installation or after its
# retirement (the two pieces are disjoint and cover the window when it was never in service).
_OUTSIDE_SERVICE = f"""
SELECT c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), i.state, sum({_MICROS})::bigint
FROM cameras c
CROSS JOIN LATERAL (VALUES
    (%(a)s::timestamptz, least(%(b)s::timestamptz, coalesce(c.installed_at, %(a)s))),
    (greatest(%(a)s::timestamptz, coalesce(c.retired_at, %(b)s), c.installed_at), %(b)s::timestamptz)) AS p(lo, hi)
JOIN camera_intervals i ON i.camera_id = c.camera_id AND i.end_ts > p.lo AND i.start_ts < p.hi
WHERE (c.installed_at > %(a)s OR c.retired_at < %(b)s) AND p.hi > p.lo
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - a constant expression


def key_seconds(conn: DbConn, start: datetime, end: datetime) -> dict[Key, dict[str, int]]:
    """Stored microseconds per camera key and state over [start, end), each camera within its service period:
    the same as summing every camera's intervals clipped to the window and to its service."""
    cut = pieces(start, end, zone(conn))
    out: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(rows: Iterable[tuple[str, str, str, str, int]], sign: int = 1) -> None:
        for unit_set, unit_code, successor, state, micros in rows:
            out[(unit_set, unit_code, successor)][state] += sign * micros

    with conn.cursor(row_factory=tuple_row) as cur:
        if cut.days:
            add(cur.execute(_DAYS, {"days": list(cut.days)}, prepare=False))
        for lo, hi, sign in cut.raw:
            add(cur.execute(_RAW, {"lo": lo, "hi": hi}, prepare=False), sign)
        add(cur.execute(_OUTSIDE_SERVICE, {"a": start, "b": end}, prepare=False), sign=-1)
    # keys whose cameras all moved away keep rows that sum to zero: not a figure
    return {key: {s: m for s, m in per.items() if m} for key, per in out.items() if any(per.values())}


def key_units(conn: DbConn, view_set: str) -> dict[Key, str | None]:
    """Each known camera key's unit in the view (None: not attributable there)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT unit_set, unit_code, successor_code, view_code FROM unit_key_views WHERE view_set = %s",
            (view_set,),
        )
        return {(s, c, k): v for s, c, k, v in rows}
