"""Reading camera state and uptime from the database, for the API, alerts and reports.

The rules live in `services.core.uptime`; this module only gathers their inputs: the stored intervals of the
closed part [h₁, hₙ) summed per camera and state (clipped to the window in SQL), and per camera the latest
heartbeat and its gateway's watermark, from which `uptime.tail` adds the open part [hₙ, W). Everything not
covered is unknown. A camera's unit in the view's set comes from `camera_view_units` (its own unit, where the
mapping took it, or the operator's word for a split unit); a camera without one there has `view_code` None: "chưa
xác định đơn vị" (not attributable, SPEC §3), never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

import numpy as np
from psycopg.rows import tuple_row

from services.core import maintenance, units, uptime, uptime_days
from services.core.db import DbConn
from services.core.fleet import Fleet, fleet, micros
from services.core.uptime import Beat, State

# `detail` adds what a camera page shows (quality, metrics, place); uptime needs only the lean part.
_SNAPSHOT = """
SELECT c.camera_id, c.name, c.unit_set, c.unit_code, c.registered, c.interval_s, c.grace_s,
       c.stream_url_enc IS NOT NULL AS has_stream, c.installed_at, c.retired_at,
       {view_code},
       cs.last_ts, cs.last_state, cs.last_status, g.watermark,
       CASE WHEN %(detail)s THEN jsonb_build_object(
           'address', c.address, 'lat', c.lat, 'lon', c.lon, 'tags', c.tags, 'last_quality', cs.last_quality,
           'last_metrics', cs.last_metrics, 'gateway_name', g.name) END AS detail
FROM cameras c
{view_join}
LEFT JOIN camera_status cs ON cs.camera_id = c.camera_id
LEFT JOIN gateways g ON g.gateway_id = c.gateway_id
WHERE (%(ids)s::text[] IS NULL OR c.camera_id = ANY(%(ids)s))
ORDER BY c.camera_id
"""
_SNAPSHOT_IN_VIEW = _SNAPSHOT.format(
    view_code="cv.view_code",
    view_join="JOIN camera_view_units cv ON cv.camera_id = c.camera_id AND cv.view_set = %(view)s",
)
# A caller that holds the cameras' units in the view already (the live model's) saves the join over every unit's
# key — half of the statement's time for a xã's 900 cameras.
_SNAPSHOT_OWN = _SNAPSHOT.format(view_code="NULL::text", view_join="")

_INTERVAL_SECONDS = """
SELECT camera_id, state,
       sum(extract(epoch FROM least(end_ts, %(b)s) - greatest(start_ts, %(a)s)))::float8 AS seconds
FROM camera_intervals
WHERE (%(ids)s::text[] IS NULL OR camera_id = ANY(%(ids)s)) AND end_ts > %(a)s AND start_ts < %(b)s
GROUP BY camera_id, state
"""
# The reads below run with prepare=False: psycopg prepares a statement after 5 executions, and PostgreSQL's
# generic plan for these `ids IS NULL OR … = ANY(ids)` filters was about twice as slow as a custom plan
# (measured: /uptime for 5,000 cameras went from ~80 ms to ~160 ms once prepared).

# Above this many cameras, summing every camera's intervals and keeping the ones asked for is cheaper than
# filtering by a long id list in SQL (measured in bench/uptime_query.py).
_ALL_CAMERAS_ABOVE = 500


@dataclass(frozen=True)
class CameraSnapshot:
    camera_id: str
    name: str
    unit_set: str
    unit_code: str
    view_code: str | None
    registered: bool
    interval_s: int
    grace_s: int | None
    has_stream: bool
    last: Beat | None
    last_status: str | None
    watermark: datetime | None
    installed_at: datetime | None
    retired_at: datetime | None
    detail: dict[str, Any]

    def service_window(self, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
        return service_window(self.installed_at, self.retired_at, start, end)

    def live(self, now: datetime, gateway_silence_s: float) -> State:
        silent = self.watermark is None or (now - self.watermark).total_seconds() > gateway_silence_s
        return uptime.live_state(
            self.last,
            now=now,
            watermark=self.watermark,
            interval_s=self.interval_s,
            grace_s=self.grace_s,
            gateway_silent=silent,
        )


def snapshots(
    conn: DbConn,
    *,
    view_set: str,
    camera_ids: list[str] | None = None,
    detail: bool = False,
    view_codes: Mapping[str, str | None] | None = None,
) -> list[CameraSnapshot]:
    """The cameras (all, or `camera_ids`) as of now, with their unit in `view_set`: looked up, or taken from
    `view_codes` (camera id → unit code in the view) when the caller has them for every camera asked for."""
    query = _SNAPSHOT_IN_VIEW if view_codes is None else _SNAPSHOT_OWN
    with conn.cursor(row_factory=tuple_row) as cur:  # thousands of rows: tuples are much cheaper than dicts
        rows = cur.execute(query, {"view": view_set, "ids": camera_ids, "detail": detail}, prepare=False).fetchall()
    if view_codes is not None:
        rows = [(*r[:10], view_codes[r[0]], *r[11:]) for r in rows]
    return [
        CameraSnapshot(
            camera_id=camera_id,
            name=name,
            unit_set=unit_set,
            unit_code=unit_code,
            view_code=view_code,
            registered=registered,
            interval_s=interval_s,
            grace_s=grace_s,
            has_stream=has_stream,
            last=Beat(last_ts, last_state) if last_ts else None,
            last_status=last_status,
            watermark=watermark,
            installed_at=installed_at,
            retired_at=retired_at,
            detail=extra or {},
        )
        for (
            camera_id,
            name,
            unit_set,
            unit_code,
            registered,
            interval_s,
            grace_s,
            has_stream,
            installed_at,
            retired_at,
            view_code,
            last_ts,
            last_state,
            last_status,
            watermark,
            extra,
        ) in rows
    ]


def window_seconds(
    conn: DbConn, cameras: Iterable[CameraSnapshot], start: datetime, end: datetime, *, tz: tzinfo
) -> dict[str, dict[State, float]]:
    """Seconds per state of each camera over [start, end) (within its service window), SPEC §5, time inside a
    maintenance window counted as maintenance."""
    cams = list(cameras)
    out = _window_seconds(conn, cams, start, end)
    for camera_id, spans in maintenance_spans(conn, cams, start, end, tz).items():
        cam = next(c for c in cams if c.camera_id == camera_id)
        window = cam.service_window(start, end)
        if window is not None:
            covered = uptime.overlay_maintenance(camera_intervals(conn, cam, *window), spans)
            out[camera_id] = uptime.seconds_by_state(covered)
    return out


def camera_intervals(conn: DbConn, cam: CameraSnapshot, lo: datetime, hi: datetime) -> list[uptime.Interval]:
    """Every state of one camera over [lo, hi): stored intervals, the open tail, unknown elsewhere."""
    known = _stored_intervals(conn, cam.camera_id, lo, hi)
    if cam.last is not None and cam.watermark is not None:
        known += uptime.tail(cam.last, cam.watermark, interval_s=cam.interval_s, grace_s=cam.grace_s)
    return uptime.fill_unknown(known, lo, hi)


def maintenance_spans(
    conn: DbConn, cameras: Iterable[CameraSnapshot], start: datetime, end: datetime, tz: tzinfo
) -> dict[str, list[tuple[datetime, datetime]]]:
    """For each camera that a maintenance window touches within [start, end), the spans it covers."""
    windows = [w for w in maintenance.load_windows(conn) if w.intervals(start, end, tz)]
    if not windows:
        return {}
    mapping = units.load_mapping(conn)
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for c in cameras:
        unit = (c.unit_set, c.unit_code)
        scope = [unit, mapping[unit]] if unit in mapping else [unit]
        spans = [span for w in windows if w.covers(c.camera_id, scope) for span in w.intervals(start, end, tz)]
        if spans:
            out[c.camera_id] = spans
    return out


def _window_seconds(
    conn: DbConn, cameras: Iterable[CameraSnapshot], start: datetime, end: datetime
) -> dict[str, dict[State, float]]:
    windows = {c.camera_id: (c, w) for c in cameras if (w := c.service_window(start, end))}
    if not windows:
        return {}
    stored: dict[str, dict[str, float]] = defaultdict(dict)
    ids = list(windows) if len(windows) <= _ALL_CAMERAS_ABOVE else None
    with conn.cursor(row_factory=tuple_row) as cur:
        for camera_id, state, total in cur.execute(
            _INTERVAL_SECONDS, {"ids": ids, "a": start, "b": end}, prepare=False
        ):
            stored[camera_id][state] = total
    out: dict[str, dict[State, float]] = {}
    for camera_id, (cam, (lo, hi)) in windows.items():
        seconds: dict[State, float] = dict.fromkeys(uptime.STATES, 0.0)
        if (lo, hi) == (start, end):
            for state, s in stored[camera_id].items():
                seconds[state] += s  # type: ignore[index]
        else:  # a camera installed or retired inside the window: clip its stored intervals too
            for iv in _stored_intervals(conn, camera_id, lo, hi):
                seconds[iv.state] += iv.seconds
        if cam.last is not None and cam.watermark is not None and cam.last.ts < hi and cam.watermark > lo:
            for iv in uptime.clip(
                uptime.tail(cam.last, cam.watermark, interval_s=cam.interval_s, grace_s=cam.grace_s), lo, hi
            ):
                seconds[iv.state] += iv.seconds
        known = seconds["up"] + seconds["degraded"] + seconds["down"] + seconds["maintenance"]
        seconds["unknown"] = max(0.0, (hi - lo).total_seconds() - known)
        out[camera_id] = seconds
    return out


# Stored seconds per unit of the view and state, each camera's intervals clipped to the window and to its
# service period (installed_at, retired_at); `ids` NULL means every camera.
_UNIT_SECONDS = """
SELECT cv.view_code, i.state,
       sum(extract(epoch FROM
           least(i.end_ts, %(b)s, coalesce(c.retired_at, %(b)s))
           - greatest(i.start_ts, %(a)s, coalesce(c.installed_at, %(a)s))))::float8 AS seconds
FROM camera_intervals i
JOIN cameras c ON c.camera_id = i.camera_id
JOIN camera_view_units cv ON cv.camera_id = c.camera_id AND cv.view_set = %(view)s
WHERE (%(ids)s::text[] IS NULL OR i.camera_id = ANY(%(ids)s)) AND i.end_ts > %(a)s AND i.start_ts < %(b)s
  AND least(i.end_ts, %(b)s, coalesce(c.retired_at, %(b)s))
      > greatest(i.start_ts, %(a)s, coalesce(c.installed_at, %(a)s))
GROUP BY 1, 2
"""


@dataclass
class UnitUptime:
    """Seconds per state, and cameras in service, per unit of the view (key None: not attributable)."""

    seconds: dict[str | None, dict[State, float]]
    cameras: dict[str | None, int]


def unit_uptime(
    conn: DbConn,
    start: datetime,
    end: datetime,
    *,
    view_set: str,
    camera_ids: list[str] | None,
    tz: tzinfo,
    cameras: Fleet | None = None,
) -> UnitUptime:
    """Per unit of the view over [start, end): the same figures as summing `window_seconds` over a unit's
    cameras, without per-camera objects: the stored part summed per unit (`camera_ids` None: every camera, from
    the day and hour rollups, which read whole keys; else per interval in SQL), the open tails and service
    periods of all cameras at once on arrays (`cameras`: the same cameras, already fetched)."""
    f = cameras if cameras is not None else fleet(conn, view_set=view_set, camera_ids=camera_ids)
    if camera_ids is None:
        return unit_uptime_each(conn, [(start, end)], view_set=view_set, tz=tz, cameras=f)[0]
    stored: dict[str | None, dict[State, float]] = defaultdict(lambda: dict.fromkeys(uptime.STATES, 0.0))
    params = {"view": view_set, "ids": camera_ids, "a": start, "b": end}
    with conn.cursor(row_factory=tuple_row) as cur:
        for code, state, total in cur.execute(_UNIT_SECONDS, params, prepare=False):
            stored[code][state] += total
    return _with_live_part(conn, stored, f, start, end, view_set=view_set, camera_ids=camera_ids, tz=tz)


def unit_uptime_each(
    conn: DbConn,
    windows: list[tuple[datetime, datetime]],
    *,
    view_set: str,
    tz: tzinfo,
    cameras: Fleet,
    keys: Collection[uptime_days.Key] | None = None,
) -> list[UnitUptime]:
    """`unit_uptime` of each window for the cameras whose key is in `keys` (None: every camera) — `cameras` must
    be exactly those — the stored part of all windows read from the rollups at once."""
    unit_of = uptime_days.key_units(conn, view_set)
    ids = None if keys is None else cameras.ids.tolist()
    planned = maintenance.load_windows(conn)  # once for every window
    out = []
    for (start, end), per_key in zip(windows, uptime_days.key_seconds_each(conn, windows, keys), strict=True):
        stored: dict[str | None, dict[State, float]] = defaultdict(lambda: dict.fromkeys(uptime.STATES, 0.0))
        for key, per_state in per_key.items():
            for state, m in per_state.items():
                stored[unit_of.get(key)][state] += m / 1e6  # type: ignore[index]
        whole = _with_live_part(
            conn, stored, cameras, start, end, view_set=view_set, camera_ids=ids, tz=tz, maintenance_windows=planned
        )
        out.append(whole)
    return out


def _with_live_part(
    conn: DbConn,
    stored: dict[str | None, dict[State, float]],
    f: Fleet,
    start: datetime,
    end: datetime,
    *,
    view_set: str,
    camera_ids: list[str] | None,
    tz: tzinfo,
    maintenance_windows: list[maintenance.Window] | None = None,
) -> UnitUptime:
    """The stored seconds per unit completed: the open tails, unknown for the rest of each camera's service in the
    window, cameras counted, and maintenance overlaid (`maintenance_windows`: already read)."""
    totals: dict[str | None, dict[State, float]] = defaultdict(lambda: dict.fromkeys(uptime.STATES, 0.0))
    totals.update(stored)
    counts: dict[str | None, int] = defaultdict(int)
    lo = np.maximum(micros(start), f.installed)
    hi = np.minimum(micros(end), f.retired)
    serving = hi > lo
    in_state, down = uptime.tail_micros(f.last, f.watermark, f.interval, f.grace, lo, hi)
    columns = [  # cameras, window, up, degraded, down
        serving,
        np.where(serving, hi - lo, 0),
        np.where(f.last_state == 0, in_state, 0),
        np.where(f.last_state == 1, in_state, 0),
        np.where(f.last_state == 2, in_state, 0) + down,
    ]
    per_unit = _sums_by(f.unit, len(f.codes), np.stack(columns, axis=1).astype(np.int64))
    for code, (n, window, up, degraded, down_) in zip(f.codes, per_unit.tolist(), strict=True):
        if n:
            counts[code] += n
            bucket = totals[code]
            bucket["unknown"] += window / 1e6  # less what is known, below
            bucket["up"] += up / 1e6
            bucket["degraded"] += degraded / 1e6
            bucket["down"] += down_ / 1e6
    for bucket in totals.values():
        known = bucket["up"] + bucket["degraded"] + bucket["down"] + bucket["maintenance"]
        bucket["unknown"] = max(0.0, bucket["unknown"] - known)
    # Cameras touched by a maintenance window (few, if any): their share is replaced by the overlaid one.
    if maintenance_windows is None:
        maintenance_windows = maintenance.load_windows(conn)
    if any(w.intervals(start, end, tz) for w in maintenance_windows):
        cams = snapshots(conn, view_set=view_set, camera_ids=camera_ids)
        spans = maintenance_spans(conn, cams, start, end, tz)
        touched = [c for c in cams if c.camera_id in spans]
        plain = _window_seconds(conn, touched, start, end)
        overlaid = window_seconds(conn, touched, start, end, tz=tz)
        for c in touched:
            if c.camera_id in plain:
                bucket = totals[c.view_code]
                for state in uptime.STATES:
                    bucket[state] += overlaid[c.camera_id][state] - plain[c.camera_id][state]
    return UnitUptime(dict(totals), dict(counts))


def _sums_by(group: np.ndarray, groups: int, values: np.ndarray) -> np.ndarray:
    """Rows of `values` summed per `group`, exactly (int64). Cheap for the fleet's arrays, whose cameras come in runs
    of one key (so of one unit): one sum per run, then the runs added up."""
    out = np.zeros((groups, values.shape[1]), dtype=np.int64)
    if len(group):
        first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        np.add.at(out, group[first], np.add.reduceat(values, first, axis=0))
    return out


def regroup(result: UnitUptime, group_of: Mapping[str, str | None]) -> UnitUptime:
    """Per-unit figures summed into groups (a former district, the province): seconds and cameras add up, because
    each camera has one unit in a view and each unit one group — camera-time sums, never means of fractions. A
    unit missing from `group_of` and the not-attributable key None go to the group None."""
    seconds: dict[str | None, dict[State, float]] = defaultdict(lambda: dict.fromkeys(uptime.STATES, 0.0))
    cameras: dict[str | None, int] = defaultdict(int)
    for code, per_state in result.seconds.items():
        bucket = seconds[group_of.get(code) if code is not None else None]
        for state, value in per_state.items():
            bucket[state] += value
    for code, count in result.cameras.items():
        cameras[group_of.get(code) if code is not None else None] += count
    return UnitUptime(dict(seconds), dict(cameras))


def service_window(
    installed_at: datetime | None, retired_at: datetime | None, start: datetime, end: datetime
) -> tuple[datetime, datetime] | None:
    """The part of [start, end) in which a camera was installed and not retired."""
    lo = max(start, installed_at) if installed_at else start
    hi = min(end, retired_at) if retired_at else end
    return (lo, hi) if hi > lo else None


def _stored_intervals(conn: DbConn, camera_id: str, lo: datetime, hi: datetime) -> list[uptime.Interval]:
    rows = conn.execute(
        "SELECT start_ts, end_ts, state FROM camera_intervals WHERE camera_id = %s AND end_ts > %s AND start_ts < %s",
        (camera_id, lo, hi),
    ).fetchall()
    return uptime.clip((uptime.Interval(r["start_ts"], r["end_ts"], r["state"]) for r in rows), lo, hi)


def local_day_start(now: datetime, tz: Any) -> datetime:
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def local_month_start(now: datetime, tz: Any) -> datetime:
    return local_day_start(now, tz).replace(day=1)


def trailing(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)


# The dashboard's availability charts (SPEC §10 "availability over 24 h / 7 d / 30 d"): buckets and their count.
SERIES_WINDOWS: dict[str, tuple[int, str]] = {"24h": (24, "hour"), "7d": (7, "day"), "30d": (30, "day")}


def series_buckets(now: datetime, window: str, tz: tzinfo) -> list[tuple[datetime, datetime]]:
    """Whole local hours or days ending with the current one, which ends at `now` (so it is partial)."""
    count, step = SERIES_WINDOWS[window]
    if step == "hour":
        top = now.replace(minute=0, second=0, microsecond=0)  # hours are whole in every zone in use
        starts = [top - timedelta(hours=k) for k in reversed(range(count))]
    else:
        today = now.astimezone(tz).date()
        starts = [datetime.combine(today - timedelta(days=k), time(0), tzinfo=tz) for k in reversed(range(count))]
    return list(zip(starts, [*starts[1:], now], strict=True))
