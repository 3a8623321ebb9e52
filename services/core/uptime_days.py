"""The day and hour rollups (migrations 0014, 0018): stored seconds per local day — and per UTC hour, for recent
time — per camera key and state, for reading long windows of many cameras without reading every interval.

A camera's key is (unit_set, unit_code, successor_code): what decides its unit in every set (`unit_key_views`).
Triggers keep `uptime_days` + `uptime_day_changes` and `uptime_hours` + `uptime_hour_changes` equal to the stored
intervals of the cameras that hold each key now; `compact` folds the changes in and moves the hours' horizon.
`key_seconds` sums a window: the local days wholly inside it from the day rollup; the rest of a day, when its
hours are kept, as whole hours from the hour rollup and what is left of its first and last hour from
`camera_intervals` — a piece either directly or, when it is most of its hour (or day), as the hour (day) less its
complement (a window ending now: the hour less [now, the next hour), where nothing is stored yet).
Microseconds, in integers, so that sums and the changes that undo each other stay exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.rows import tuple_row

from services.core.db import DbConn, one_row, one_snapshot

Key = tuple[str, str, str]  # unit_set, unit_code, successor_code ('' when none)
# One folder at a time. A key of its own: (7370, n) are the per-camera locks (7370, hashtext(camera_id)), and a
# camera whose id hashes to 1 would have shared the lock this used to be.
_COMPACT_LOCK = (7371, 0)


HOUR = timedelta(hours=1)
HOURS_KEPT = timedelta(days=35)  # how far back the hour rollup reaches: a month's part-days, and then some
# Readers use hours from a day after the kept horizon: the fold moves the horizon (and deletes what falls behind
# it) while readers run, and a reader would have to stall a day between reading the horizon and the hours to miss
# any.
_HORIZON_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Pieces:
    """A window as whole rollup days and hours and signed raw pieces:
    seconds = Σ days + Σ hours + Σ sign × raw(lo, hi)."""

    days: tuple[date, ...]
    raw: tuple[tuple[datetime, datetime, int], ...]
    hours: tuple[datetime, ...] = ()


def pieces(
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    hours_from: datetime | None = None,
    stored_until: datetime | None = None,
) -> Pieces:
    """Cut [start, end) at local midnights of `tz`, and a part-day from `hours_from` on (a whole UTC hour) at UTC
    hours. `stored_until`: when the last stored interval ends, which decides how a remainder is read. Pure."""
    days: list[date] = []
    hours: list[datetime] = []
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
        elif hours_from is not None and a >= hours_from:
            _cut_hours(a, b, hours, raw, stored_until)
        else:
            _whole_less_rest((lo, hi), (a, b), raw, partial(days.append, day), stored_until)
        day += timedelta(days=1)
    return Pieces(tuple(days), tuple(raw), tuple(hours))


def _cut_hours(a: datetime, b: datetime, hours: list[datetime], raw: list, stored_until: datetime | None) -> None:
    """[a, b) as the whole UTC hours inside it and what is left at either end."""
    first, last = _hour_of(a - timedelta(microseconds=1)) + HOUR, _hour_of(b)
    if first > last:  # within one hour
        edges = [(a, b)]
    else:
        hours.extend(first + k * HOUR for k in range((last - first) // HOUR))
        edges = [(a, first), (last, b)]
    for x, y in edges:
        if y > x:
            top = _hour_of(x)
            _whole_less_rest((top, top + HOUR), (x, y), raw, partial(hours.append, top), stored_until)


def _whole_less_rest(
    whole: tuple[datetime, datetime],
    part: tuple[datetime, datetime],
    raw: list,
    take_whole: Callable[[], None],
    stored_until: datetime | None,
) -> None:
    """`part` of `whole` (a day or an hour) either as itself or as the whole less the rest, whichever reads fewer
    intervals. A piece of the past reads every camera whose interval spans it — about the fleet, however short the
    piece — and one that begins after the last stored end reads next to nothing: so a window ending now is the
    whole less [now, its end). Else (or unknown) the shorter."""
    (lo, hi), (a, b) = whole, part
    rest = [(x, y) for x, y in ((lo, a), (b, hi)) if y > x]
    by_rest = 2 * (b - a) > hi - lo
    if stored_until is not None:
        costly = sum(x < stored_until for x, _ in rest), int(a < stored_until)
        by_rest = costly[0] < costly[1] or (costly[0] == costly[1] and by_rest)
    if by_rest:
        take_whole()
        raw.extend((x, y, -1) for x, y in rest)
    else:
        raw.append((a, b, 1))


def _hour_of(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


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
WITH moved AS (DELETE FROM uptime_{unit}_changes RETURNING {unit}, unit_set, unit_code, successor_code, state, micros)
INSERT INTO uptime_{unit}s AS d ({unit}, unit_set, unit_code, successor_code, state, micros)
SELECT {unit}, unit_set, unit_code, successor_code, state, sum(micros)::bigint FROM moved GROUP BY 1, 2, 3, 4, 5
ON CONFLICT ({unit}, unit_set, unit_code, successor_code, state) DO UPDATE SET micros = d.micros + EXCLUDED.micros
"""

# Hours behind the horizon go; the horizon moves to the start of the hour HOURS_KEPT before now.
_PRUNE = """
WITH moved AS (
    UPDATE uptime_hours_kept SET since = date_trunc('hour', now() - %(kept)s, 'UTC')
    WHERE since < date_trunc('hour', now() - %(kept)s, 'UTC') RETURNING since
), gone AS (DELETE FROM uptime_hours WHERE hour < (SELECT since FROM moved))
DELETE FROM uptime_hour_changes WHERE hour < (SELECT since FROM moved)
"""


def compact(conn: DbConn, kept: timedelta = HOURS_KEPT) -> int:
    """Fold the appended changes into `uptime_days` and `uptime_hours`, and let go of hours older than `kept`;
    skipped while another process folds. Rows written."""
    with conn.transaction():
        if not one_row(conn, "SELECT pg_try_advisory_xact_lock(%s, %s) AS ok", _COMPACT_LOCK)["ok"]:
            return 0
        written = sum(conn.execute(_FOLD.format(unit=unit)).rowcount for unit in ("day", "hour"))
        conn.execute(_PRUNE, {"kept": kept})
        return written


def hours_since(conn: DbConn) -> datetime:
    """From when the hour rollup is whole (the kept horizon)."""
    return one_row(conn, "SELECT since FROM uptime_hours_kept")["since"]


def keep_hours_since(conn: DbConn, since: datetime) -> None:
    """Keep hours from `since` (an earlier time rebuilds them from the intervals; a later one only lets go)."""
    since = _hour_of(since)
    with conn.transaction():
        before = one_row(conn, "SELECT since FROM uptime_hours_kept FOR UPDATE")["since"]
        conn.execute("UPDATE uptime_hours_kept SET since = %s", (since,))
        if since < before:
            conn.execute("SELECT uptime_hours_rebuild()")
        else:
            conn.execute("DELETE FROM uptime_hours WHERE hour < %s", (since,))
            conn.execute("DELETE FROM uptime_hour_changes WHERE hour < %s", (since,))


# Where the kept hours begin, and the last stored end (the index on end_ts: one row).
_BOUNDS = "SELECT since, (SELECT max(end_ts) FROM camera_intervals) AS stored_until FROM uptime_hours_kept"


def _only_keys(unit_set: str, unit_code: str, successor: str) -> str:
    """A filter on the key (these three columns) by %(keys)s: keys as one text each (NULL: every key)."""
    return f"(%(keys)s::text[] IS NULL OR concat_ws(chr(31), {unit_set}, {unit_code}, {successor}) = ANY(%(keys)s))"


_ONLY_KEYS = _only_keys("unit_set", "unit_code", "successor_code")

# Whole days, or whole hours, of the rollup and its changes not yet folded, per day (hour).
_ROLLED = f"""
SELECT {{unit}}, unit_set, unit_code, successor_code, state, sum(micros)::bigint
FROM (SELECT {{unit}}, unit_set, unit_code, successor_code, state, micros FROM uptime_{{unit}}s
      WHERE {{unit}} = ANY(%(at)s) AND {_ONLY_KEYS}
      UNION ALL
      SELECT {{unit}}, unit_set, unit_code, successor_code, state, micros FROM uptime_{{unit}}_changes
      WHERE {{unit}} = ANY(%(at)s) AND {_ONLY_KEYS}) d
GROUP BY 1, 2, 3, 4, 5
"""  # noqa: S608 - constant expressions

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
  AND {_only_keys("c.unit_set", "c.unit_code", "coalesce(c.successor_unit_code, '')")}
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - a constant expression

# What the rollups count that a figure must not, for each window (numbered from 1): stored time of a camera before
# its installation or after its retirement (the two pieces are disjoint and cover the window when it was never in
# service). The cameras are picked first, by the indexes on installed_at and retired_at with the bounds of all the
# windows (joined to the windows directly, the planner read every camera once per window).
_OUTSIDE_SERVICE = f"""
WITH c AS MATERIALIZED (
    SELECT camera_id, unit_set, unit_code, successor_unit_code, installed_at, retired_at FROM cameras
    WHERE (installed_at > %(first)s OR retired_at < %(last)s)
      AND {_only_keys("unit_set", "unit_code", "coalesce(successor_unit_code, '')")}
)
SELECT w.n, c.unit_set, c.unit_code, coalesce(c.successor_unit_code, ''), i.state, sum({_MICROS})::bigint
FROM c
JOIN unnest(%(a)s::timestamptz[], %(b)s::timestamptz[]) WITH ORDINALITY AS w(a, b, n)
  ON c.installed_at > w.a OR c.retired_at < w.b
CROSS JOIN LATERAL (VALUES
    (w.a, least(w.b, coalesce(c.installed_at, w.a))),
    (greatest(w.a, coalesce(c.retired_at, w.b), c.installed_at), w.b)) AS p(lo, hi)
JOIN camera_intervals i ON i.camera_id = c.camera_id AND i.end_ts > p.lo AND i.start_ts < p.hi
WHERE p.hi > p.lo
GROUP BY 1, 2, 3, 4, 5
"""  # noqa: S608 - a constant expression

Row = tuple[str, str, str, str, int]  # unit_set, unit_code, successor_code, state, micros


def key_seconds(conn: DbConn, start: datetime, end: datetime) -> dict[Key, dict[str, int]]:
    """Stored microseconds per camera key and state over [start, end), each camera within its service period:
    the same as summing every camera's intervals clipped to the window and to its service."""
    return key_seconds_each(conn, [(start, end)])[0]


def key_seconds_each(
    conn: DbConn, windows: list[tuple[datetime, datetime]], keys: Collection[Key] | None = None
) -> list[dict[Key, dict[str, int]]]:
    """`key_seconds` of each window, the rollups read once for all of them (a chart's buckets); only the keys in
    `keys` (None: all)."""
    only = None if keys is None else sorted(chr(31).join(key) for key in keys)
    # One snapshot: a window is its hours less what its raw pieces take away, so both must see the same writes.
    with one_snapshot(conn):
        return _key_seconds_each(conn, windows, only)


def _key_seconds_each(
    conn: DbConn, windows: list[tuple[datetime, datetime]], only: list[str] | None
) -> list[dict[Key, dict[str, int]]]:
    tz = zone(conn)
    bounds = one_row(conn, _BOUNDS)
    cuts = [pieces(a, b, tz, bounds["since"] + _HORIZON_MARGIN, bounds["stored_until"]) for a, b in windows]
    by_day: dict[Any, list[Row]] = defaultdict(list)
    by_hour: dict[Any, list[Row]] = defaultdict(list)
    by_raw: dict[tuple[datetime, datetime], list[Row]] = {}
    outside: dict[int, list[Row]] = defaultdict(list)
    with conn.cursor(row_factory=tuple_row) as cur:
        for unit, at, into in (
            ("day", {d for c in cuts for d in c.days}, by_day),
            ("hour", {h for c in cuts for h in c.hours}, by_hour),
        ):
            if at:
                for when, *row in cur.execute(
                    _ROLLED.format(unit=unit), {"at": sorted(at), "keys": only}, prepare=False
                ):
                    into[when].append(tuple(row))  # type: ignore[arg-type]
        for lo, hi in sorted({(lo, hi) for c in cuts for lo, hi, _ in c.raw}):
            by_raw[(lo, hi)] = cur.execute(_RAW, {"lo": lo, "hi": hi, "keys": only}, prepare=False).fetchall()
        starts, ends = [a for a, _ in windows], [b for _, b in windows]
        params = {"a": starts, "b": ends, "first": min(starts), "last": max(ends), "keys": only}
        for n, *row in cur.execute(_OUTSIDE_SERVICE, params, prepare=False):
            outside[n - 1].append(tuple(row))  # type: ignore[arg-type]
    return [
        _summed(
            [(by_day[d], 1) for d in cut.days]
            + [(by_hour[h], 1) for h in cut.hours]
            + [(by_raw[(lo, hi)], sign) for lo, hi, sign in cut.raw]
            + [(outside[k], -1)]
        )
        for k, cut in enumerate(cuts)
    ]


def _summed(parts: Iterable[tuple[Iterable[Row], int]]) -> dict[Key, dict[str, int]]:
    out: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for rows, sign in parts:
        for unit_set, unit_code, successor, state, micros in rows:
            out[(unit_set, unit_code, successor)][state] += sign * micros
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
