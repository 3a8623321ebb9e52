"""The live model (issue 28): every camera of a view as arrays (`services.core.fleet`), kept in this process and
brought up to date at the cost of what changed, so that a read costs what its units hold, not the fleet.

- Latest heartbeats: only the rows written since the last read (`camera_status.changed_xid`, migration 0017):
  every transaction older than the oldest one still running at that read had finished, and was seen.
- Gateways' watermarks: a few hundred rows, read each time.
- Everything else (cameras, gateways added or revoked, units and mappings): a counter that any such change
  bumps; then the view is loaded again whole.
All three in one statement, so one snapshot and one round trip. A request uses a refresh that began after it
arrived — so it sees every commit made before it — its own or one under way that it joins (`LiveModel`). Live
states are then computed at the request's own `now` on the arrays of the cameras it may see: exact, as SPEC §5
says.

The availability today and this month of every unit (`/units`) is the one figure not computed per request: the
whole view's is computed at most once every PULSE_LIVE_FIGURES_S of the API's clock, from one snapshot (stored
part and open tails together), and each answer says when (`figures_as_of`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, TypeVar

import numpy as np
from prometheus_client import Counter
from psycopg.rows import tuple_row
from psycopg.types.numeric import Int8BinaryLoader

from services.core import camera_state, engagement, uptime
from services.core.db import DbConn, one_row, one_snapshot
from services.core.fleet import Fleet, fleet, micros
from services.core.uptime import State

REFRESHES = Counter("pulse_api_live_refreshes_total", "Live model refreshes, by kind", ["kind"])
CHANGED_ROWS = Counter("pulse_api_live_changed_rows_total", "Latest-heartbeat rows the live model re-read")

Connect = Callable[[], AbstractContextManager[DbConn]]
Marks = tuple[np.ndarray, np.ndarray]  # the gateways' ids, ascending, and their watermarks (µs since 2000)
T = TypeVar("T")

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


@dataclass(frozen=True)
class Figures:
    """Availability seconds today and this month, and the month's active app users, per unit of a view, as of
    `as_of`."""

    as_of: datetime
    registry: int
    day: dict[str | None, dict[State, float]]
    month: dict[str | None, dict[State, float]]
    mau: dict[str, int]


@dataclass
class _Flight:
    """A refresh under way: when it began, whether it loads the view whole, and its view once done."""

    began: int  # monotonic ns, taken before its snapshot
    whole: bool = False
    view: View | None = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    def loading_whole(self) -> None:
        self.whole = True  # later requests wait for it rather than load the view whole too


class LiveModel:
    """The views in use, each refreshed by the requests that need it. A request uses a refresh that began after it
    arrived — its own, or one under way that another request began after it — so that it sees every commit made
    before it. It does not wait for a refresh that began before it arrived: that one may miss what it must see, and
    waiting for it to end and then for one more was most of a request's wait under load (issue 28). So refreshes
    may overlap (each is one statement: what changed since the view it starts from); the newest is kept. A load of
    the whole view (the first, or after the registry changed) is waited for instead of repeated."""

    def __init__(self, *, figures_every_s: float) -> None:
        self.figures_every_s = figures_every_s
        self._views: dict[str, tuple[View, int]] = {}  # view set → (view, when its refresh began, monotonic ns)
        self._flights: dict[str, list[_Flight]] = {}
        self._figures: dict[str, Figures] = {}
        self._figure_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._kept: dict[object, tuple[int, Any]] = {}

    def _lock(self, table: dict[str, threading.Lock], view_set: str) -> threading.Lock:
        with self._guard:
            return table.setdefault(view_set, threading.Lock())

    def view(self, connect: Connect, view_set: str) -> View:
        """The view, as fresh as the database was when this was called."""
        asked = time.monotonic_ns()
        while True:
            with self._guard:
                held = self._views.get(view_set)
                if held is not None and held[1] >= asked:
                    return held[0]  # a refresh that began after this request arrived has ended
                flights = self._flights.setdefault(view_set, [])
                joined = next((f for f in flights if f.began >= asked or f.whole), None)
                if joined is None:
                    mine = self._take_off(view_set, held)
            if joined is None:
                with connect() as conn:
                    return self._fly(conn, view_set, mine, held)
            joined.done.wait()
            if joined.began >= asked and joined.view is not None:
                return joined.view
            # a whole load that began before this request (or a refresh that failed) has ended: look again

    def view_in(self, conn: DbConn, view_set: str) -> View:
        """The view brought up to the snapshot of the repeatable-read transaction `conn` is in (`db.one_snapshot`, this
        its first read), for a caller that reads more in the same snapshot (stored history that must agree with
        the open tails); kept when it is the newest."""
        while True:
            with self._guard:
                held = self._views.get(view_set)
                whole = next((f for f in self._flights.setdefault(view_set, []) if f.whole), None)
                if whole is None:
                    mine = self._take_off(view_set, held)
            if whole is None:
                return self._fly(conn, view_set, mine, held)
            whole.done.wait()

    def _take_off(self, view_set: str, held: tuple[View, int] | None) -> _Flight:
        """With the guard held: a refresh of `view_set` from `held`, registered so that later requests can join."""
        flight = _Flight(began=time.monotonic_ns(), whole=held is None)
        self._flights[view_set].append(flight)
        return flight

    def _fly(self, conn: DbConn, view_set: str, flight: _Flight, held: tuple[View, int] | None) -> View:
        try:
            flight.view = refresh(conn, view_set, held[0] if held else None, loading_whole=flight.loading_whole)
            with self._guard:
                kept = self._views.get(view_set)
                if kept is None or kept[1] < flight.began:
                    self._views[view_set] = (flight.view, flight.began)
            return flight.view
        finally:
            with self._guard:
                self._flights[view_set].remove(flight)
            flight.done.set()

    def kept(self, view: View, what: tuple, compute: Callable[[], T]) -> T:
        """What follows from the registry alone (a view set's units and their places; `what` names it): computed
        once for each registry version of `view`, not on every request."""
        with self._guard:
            held = self._kept.get(what)
        if held is not None and held[0] == view.registry:
            return held[1]
        value = compute()
        with self._guard:
            self._kept[what] = (view.registry, value)
        return value

    def latest(self, view_set: str) -> View | None:
        held = self._views.get(view_set)
        return held[0] if held else None

    def figures(self, connect: Connect, view_set: str, now: datetime, tz: tzinfo) -> Figures:
        """Availability today and this month per unit, recomputed when older than `figures_every_s` (or the
        registry changed); while one request recomputes, the others keep the previous figures."""
        lock = self._lock(self._figure_locks, view_set)
        held = self._figures.get(view_set)
        if (
            held is not None
            and (now - held.as_of).total_seconds() < self.figures_every_s  # on the API's clock (tests move it)
            and held.registry == self._registry(view_set)
            and held.as_of.astimezone(tz).date() == now.astimezone(tz).date()  # a new day starts its own figures
            and held.as_of <= now
        ):
            return held
        if held is not None and not lock.acquire(blocking=False):
            return held  # being recomputed
        if held is None:
            lock.acquire()
        try:
            current = self._figures.get(view_set)
            if current is not held and current is not None:
                return current  # computed while this request waited
            with connect() as conn, one_snapshot(conn):
                view = self.view_in(conn, view_set)
                windows = [(camera_state.local_day_start(now, tz), now), (camera_state.local_month_start(now, tz), now)]
                day, month = camera_state.unit_uptime_each(conn, windows, view_set=view_set, tz=tz, cameras=view.fleet)
                mau = engagement.mau(conn, view_set, now.astimezone(tz).date())
                result = Figures(now, view.registry, day.seconds, month.seconds, mau)
            self._figures[view_set] = result
            return result
        finally:
            lock.release()

    def _registry(self, view_set: str) -> int | None:
        view = self.latest(view_set)
        return view.registry if view else None
