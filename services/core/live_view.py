"""One view set's cameras as arrays (`services.core.fleet`), brought up to date at the cost of what changed
(issue 28): the API's live model (services/api/live.py) and the alerts engine's tick both hold one.

- Latest heartbeats: only the rows written since the last read (`camera_status.changed_xid`, migration 0017):
  every transaction older than the oldest one still running at that read had finished, and was seen.
- Gateways' watermarks: a few hundred rows, read each time.
- Everything else (cameras, gateways added or revoked, units and mappings): a counter that any such change
  bumps; then the view is loaded again whole.
All three in one statement, so one snapshot and one round trip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from prometheus_client import Counter
from psycopg.rows import tuple_row
from psycopg.types.numeric import Int8BinaryLoader

from services.core import uptime
from services.core.db import DbConn, one_row, one_snapshot
from services.core.fleet import Fleet, fleet, micros

REFRESHES = Counter("pulse_live_view_refreshes_total", "Live view refreshes, by kind", ["kind"])
CHANGED_ROWS = Counter("pulse_live_view_changed_rows_total", "Latest-heartbeat rows the live views re-read")

Marks = tuple[np.ndarray, np.ndarray]  # the gateways' ids, ascending, and their watermarks (µs since 2000)

_POSITION = """
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
       (SELECT version FROM live_registry) AS registry
"""
_WATERMARKS = "SELECT gateway_id, coalesce(watermark, '-infinity') FROM gateways ORDER BY gateway_id"
# A refresh of a held view in one statement, so one snapshot without a transaction: one round trip where a
# transaction took four (BEGIN, SET, the reads, COMMIT) — every request that reads the view waits for one, and
# under load each round trip waits for the busy database. The watermarks must be no newer than the heartbeats
# read with them (a newer one could make a camera whose heartbeat is not read yet look silent).
_CHANGES = f"""
SELECT p.horizon, p.registry, c.ids, c.lasts, c.states, g.ids, g.marks
FROM ({_POSITION}) p,
     (SELECT array_agg(camera_id) AS ids, array_agg(last_ts) AS lasts,
             array_agg(CASE last_state WHEN 'degraded' THEN 1 WHEN 'down' THEN 2 ELSE 0 END::bigint) AS states
      FROM camera_status WHERE changed_xid >= %(horizon)s::text::xid8) c,
     (SELECT array_agg(gateway_id ORDER BY gateway_id) AS ids,
             array_agg(coalesce(watermark, '-infinity') ORDER BY gateway_id) AS marks
      FROM gateways) g
"""  # noqa: S608 - built from the constant position query only


@dataclass(frozen=True)
class View:
    """One view set's cameras as of one database snapshot. Never changed in place: a refresh makes a new one."""

    fleet: Fleet
    position: dict[str, int]  # camera id → index in the arrays
    members: dict[str | None, np.ndarray]  # unit of the view (None: not attributable) → its cameras' indexes
    registry: int
    horizon: int
    version: int  # grows whenever anything in the arrays changed
    gateways: Marks  # the gateways' watermarks the arrays hold

    def cameras_of(self, codes: list[str | None] | None) -> np.ndarray:
        """Indexes of the cameras in the given units (None: all)."""
        if codes is None:
            return np.arange(len(self.fleet.ids))
        parts = [self.members[c] for c in codes if c in self.members]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def states(self, picked: np.ndarray, now: datetime, gateway_silence_s: float) -> np.ndarray:
        """The live state (SPEC §5) of the cameras at `picked`, as indexes into `uptime.LIVE_STATES`."""
        f = self.fleet
        return uptime.live_states(
            f.last[picked],
            f.last_state[picked],
            f.watermark[picked],
            f.interval[picked],
            f.grace[picked],
            now=micros(now),
            gateway_silence=gateway_silence_s * 1e6,
        )

    def live_counts(self, now: datetime, gateway_silence_s: float, codes: list[str] | None) -> dict:
        """Cameras in service per unit by live state (SPEC §5), for the listed units only (None: all)."""
        f = self.fleet
        picked = self.cameras_of(list(codes) if codes is not None else None)
        states = self.states(picked, now, gateway_silence_s)
        serving = f.retired[picked] > micros(now)
        table = np.zeros((len(f.codes), len(uptime.LIVE_STATES)), dtype=np.int64)
        np.add.at(table, (f.unit[picked][serving], states[serving]), 1)
        return {
            code: dict(zip(uptime.LIVE_STATES, map(int, row), strict=True))
            for code, row in zip(f.codes, table, strict=True)
        }


def _micros_cursor(conn: DbConn):  # type: ignore[no-untyped-def]
    cur = conn.cursor(row_factory=tuple_row, binary=True)
    cur.adapters.register_loader("timestamptz", Int8BinaryLoader)  # µs since 2000-01-01, as `fleet` reads them
    return cur


def _load(conn: DbConn, view_set: str, registry: int, horizon: int, version: int) -> View:
    f = fleet(conn, view_set=view_set, with_ids=True)
    order = np.argsort(f.unit, kind="stable")
    bounds = np.searchsorted(f.unit[order], np.arange(len(f.codes) + 1))
    members = {code: order[bounds[k] : bounds[k + 1]] for k, code in enumerate(f.codes)}
    position = {camera_id: k for k, camera_id in enumerate(f.ids.tolist())}
    gateways = _watermarks(conn)
    f = dataclasses.replace(f, watermark=_per_camera(gateways, f.gateway))  # as every refresh will spread them
    return View(f, position, members, registry, horizon, version + 1, gateways)


def _watermarks(conn: DbConn) -> Marks:
    """Every gateway's id and watermark (a few hundred rows)."""
    with _micros_cursor(conn) as cur:
        rows = cur.execute(_WATERMARKS, prepare=False).fetchall()
    return _marks([r[0] for r in rows], [r[1] for r in rows])


def _marks(gateway_ids: list[int] | None, watermarks: list[int] | None) -> Marks:
    ids = np.array(gateway_ids or [], dtype=np.int64)
    marks = np.array(watermarks or [], dtype=np.int64)
    marks[marks == np.iinfo(np.int64).min] = uptime.NEVER
    return ids, marks


def _per_camera(gateways: Marks, gateway: np.ndarray) -> np.ndarray:
    """Each camera's gateway's watermark (NEVER: no gateway, or one not listed)."""
    ids, marks = gateways
    if not len(ids):
        return np.full(len(gateway), uptime.NEVER, dtype=np.int64)
    at = np.clip(np.searchsorted(ids, gateway), 0, len(ids) - 1)
    return np.where(ids[at] == gateway, marks[at], uptime.NEVER)


def refresh(conn: DbConn, view_set: str, old: View | None, loading_whole: Callable[[], None] = lambda: None) -> View:
    """`old` brought up to a snapshot taken now — the snapshot of the transaction `conn` is in, if it is in one
    (repeatable read: the caller reads more in it)."""
    if old is not None:
        with _micros_cursor(conn) as cur:
            at = cur.execute(_CHANGES, {"horizon": old.horizon}, prepare=False).fetchone()
        assert at is not None  # one row, always
        horizon, registry, ids, lasts, states, gateway_ids, watermarks = at
        ids = ids or []  # array_agg of no rows is NULL
        if registry == old.registry:
            changed = _changed(old, horizon, ids, lasts or [], states or [], _marks(gateway_ids, watermarks))
            if changed is not None:
                REFRESHES.labels("changes").inc()
                CHANGED_ROWS.inc(len(ids))
                return changed
    loading_whole()
    with one_snapshot(conn):
        at = one_row(conn, _POSITION)
        REFRESHES.labels("whole").inc()
        return _load(conn, view_set, at["registry"], at["horizon"], old.version if old else 0)


def _changed(
    old: View, horizon: int, ids: list[str], lasts: list[int], states: list[int], gateways: Marks
) -> View | None:
    """`old` with the latest heartbeats and watermarks read at `horizon`; None when a camera it has not loaded
    changed (the registry changed under it: load it whole)."""
    f = old.fleet
    last_now, state_now = f.last, f.last_state
    if ids:
        try:
            index = np.fromiter((old.position[camera_id] for camera_id in ids), dtype=np.int64, count=len(ids))
        except KeyError:
            return None
        last = np.array(lasts, dtype=np.int64)
        state = np.array(states, dtype=np.int64)
        if not (np.array_equal(f.last[index], last) and np.array_equal(f.last_state[index], state)):
            last_now, state_now = f.last.copy(), f.last_state.copy()  # copies: readers may hold the old arrays
            last_now[index], state_now[index] = last, state
    same_marks = all(np.array_equal(a, b) for a, b in zip(gateways, old.gateways, strict=True))
    if last_now is f.last and same_marks:
        return dataclasses.replace(old, horizon=horizon)
    # the cameras' watermarks spread again only when a gateway's moved: a xã's read costs nothing per camera
    watermark = f.watermark if same_marks else _per_camera(gateways, f.gateway)
    fresh = dataclasses.replace(f, last=last_now, last_state=state_now, watermark=watermark)
    return dataclasses.replace(old, fleet=fresh, gateways=gateways, horizon=horizon, version=old.version + 1)
