"""Live updates pushed to open dashboards (issue 28): `GET /api/v1/live/events` is a Server-Sent Events stream,
authenticated like every route (the session cookie or a token). One ticker per API process counts, every
PULSE_LIVE_TICK_S, the cameras of each view that has open streams by live state per unit, from the live model
(services/api/live.py) — once per tick, however many pages are open — and sends an event to each stream whose
units changed. The page then reads again (a 304 when nothing it shows changed). Polling stays as the fallback.

A stream ends after STREAM_LIFETIME_S (EventSource reconnects by itself, authenticated again): an operator
disabled or logged out stops receiving within that bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from prometheus_client import Counter, Gauge

from services.api.deps import AppSettings, Reader
from services.api.live import Connect, LiveModel
from services.api.uptime import UnitSetParam

log = logging.getLogger("pulse.api")
router = APIRouter(prefix="/api/v1/live", tags=["live"])
STREAMS = Gauge("pulse_api_live_streams", "Open live-update streams (dashboards with push)")
PUSHED = Counter("pulse_api_live_events_total", "Live-update events sent to open dashboards")
STREAM_LIFETIME_S = 600
KEEP_ALIVE_S = 15


@dataclass(eq=False)
class Stream:
    view: str
    codes: frozenset[str] | None  # None: every unit
    queue: asyncio.Queue[dict] = field(default_factory=lambda: asyncio.Queue(maxsize=1))

    def tell(self, event: dict) -> None:
        if self.queue.full():  # the page has not read the last one yet: it will read everything anyway
            self.queue.get_nowait()
        self.queue.put_nowait(event)


def changed_units(before: dict[str | None, dict] | None, after: dict[str | None, dict]) -> set[str | None]:
    """Units whose counts by live state differ. Pure."""
    if before is None:
        return set()
    return {code for code in before.keys() | after.keys() if before.get(code) != after.get(code)}


class Broadcast:
    def __init__(
        self, live: LiveModel, connect: Connect, clock: Callable[[], datetime], silence_s: float, tick_s: float
    ) -> None:
        self.live, self.connect, self.clock, self.silence_s, self.tick_s = live, connect, clock, silence_s, tick_s
        self.streams: set[Stream] = set()
        self._counts: dict[str, dict[str | None, dict]] = {}

    def _count(self, view_set: str) -> dict[str | None, dict]:
        return self.live.view(self.connect, view_set).live_counts(self.clock(), self.silence_s, None)

    async def watch(self, view_set: str) -> None:
        """Counted before a new stream says hello, when nobody watched this view yet: a change after the page's
        reading on hello is then told, not taken for the first count."""
        if view_set not in self._counts:
            self._counts[view_set] = await asyncio.to_thread(self._count, view_set)

    async def tick(self) -> None:
        for view_set in {s.view for s in self.streams}:
            counts = await asyncio.to_thread(self._count, view_set)
            changed = changed_units(self._counts.get(view_set), counts)
            self._counts[view_set] = counts
            if not changed:
                continue
            for stream in [s for s in self.streams if s.view == view_set]:
                mine = changed if stream.codes is None else changed & stream.codes
                if mine:
                    stream.tell({"unit_set": view_set, "units": sorted(c for c in mine if c is not None)})
                    PUSHED.inc()
        for view_set in set(self._counts) - {s.view for s in self.streams}:
            del self._counts[view_set]  # nobody watches: counted afresh when someone does

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if self.streams:
                    await self.tick()
            except Exception:  # the database away, say: the pages keep polling; try again next tick
                log.warning("live updates: this tick failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_s)


def _frame(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get(
    "/events",
    summary="Server-Sent Events: `live` each time the live state of your units changes (then read them again)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    principal: Reader, request: Request, settings: AppSettings, unit_set: UnitSetParam = None
) -> StreamingResponse:
    broadcast: Broadcast = request.app.state.broadcast
    view = unit_set or settings.unit_set
    codes = principal.unit_codes(view)
    stream = Stream(view, frozenset(codes) if codes is not None else None)

    async def frames() -> AsyncIterator[str]:
        broadcast.streams.add(stream)
        STREAMS.inc()
        try:
            await broadcast.watch(view)
            yield "retry: 3000\n" + _frame("hello", {"unit_set": view})
            loop = asyncio.get_running_loop()
            ends = loop.time() + getattr(request.app.state, "live_stream_s", STREAM_LIFETIME_S)
            stopping: asyncio.Event = request.app.state.stopping
            while loop.time() < ends and not stopping.is_set() and not await request.is_disconnected():
                told = asyncio.ensure_future(stream.queue.get())
                stop = asyncio.ensure_future(stopping.wait())
                try:
                    done, _ = await asyncio.wait(
                        {told, stop}, timeout=KEEP_ALIVE_S, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:  # also when the page goes away while waiting: no waiter left behind
                    for waiter in (told, stop):
                        if not waiter.done():
                            waiter.cancel()
                if told in done:
                    yield _frame("live", told.result())
                elif not done:
                    yield ": keep-alive\n\n"
        finally:
            broadcast.streams.discard(stream)
            STREAMS.dec()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
