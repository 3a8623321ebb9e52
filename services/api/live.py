"""The live model (issue 28): every camera of a view as arrays, kept in this process and brought up to date at the
cost of what changed (`services.core.live_view`), so that a read costs what its units hold, not the fleet.

A request uses a refresh that began after it arrived — so it sees every commit made before it — its own or one
under way that it joins (`LiveModel`). Live states are then computed at the request's own `now` on the arrays of
the cameras it may see: exact, as SPEC §5 says.

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

from services.core import camera_state, engagement
from services.core.db import DbConn, one_snapshot
from services.core.live_view import View, refresh
from services.core.uptime import State

Connect = Callable[[], AbstractContextManager[DbConn]]
T = TypeVar("T")


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
