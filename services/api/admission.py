"""Load shedding (issue 28): the API serves at most `PULSE_API_DB_POOL` requests at once — each holds at most one
database connection at a time, so an admitted request never waits for the pool — and a request that cannot begin
within `PULSE_API_QUEUE_WAIT_S` is answered `503` with `Retry-After` at once, instead of queueing without bound
and failing after the pool's timeout with a 500.

Only `/api/…` is admitted this way: `/healthz`, `/readyz`, `/metrics`, the dashboard's files and the live
stream (which holds no connection) answer whatever the load.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from prometheus_client import Counter, Gauge
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SHED = Counter("pulse_api_requests_shed_total", "API requests answered 503 because the API was saturated")
IN_FLIGHT = Gauge("pulse_api_requests_in_flight", "API requests being served (at most PULSE_API_DB_POOL)")
BUSY_DETAIL = "the API is saturated: try again after Retry-After seconds"


def overloaded(retry_after_s: float) -> JSONResponse:
    """The answer of a saturated API: 503, and when to try again (whole seconds, at least 1)."""
    return JSONResponse(
        {"detail": BUSY_DETAIL}, status_code=503, headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))}
    )


def admitted(path: str) -> bool:
    """Paths that do database work per request (and so take a turn)."""
    return path.startswith("/api/") and not path.startswith("/api/v1/live/")


class Admission:
    """ASGI middleware: at most `limit` admitted requests run at once; the rest wait up to `max_wait_s`."""

    def __init__(
        self, app: ASGIApp, *, limit: int, max_wait_s: float, needs_turn: Callable[[str], bool] = admitted
    ) -> None:
        self.app, self.limit, self.max_wait_s, self.needs_turn = app, limit, max_wait_s, needs_turn
        self._turns: asyncio.Semaphore | None = None  # made in the server's event loop, at the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.needs_turn(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self._turns is None:
            self._turns = asyncio.Semaphore(self.limit)
        try:
            async with asyncio.timeout(self.max_wait_s):
                await self._turns.acquire()
        except TimeoutError:
            SHED.inc()
            await overloaded(self.max_wait_s)(scope, receive, send)
            return
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            IN_FLIGHT.dec()
            self._turns.release()
