"""Load shedding (issue 28): the API serves at most `PULSE_API_DB_POOL` requests at once — each holds at most one
database connection at a time, so an admitted request never waits for the pool — and a request that cannot begin
within `PULSE_API_QUEUE_WAIT_S` is answered `503` with `Retry-After` at once, instead of queueing without bound
and failing after the pool's timeout with a 500.

Only `/api/…` is admitted this way: `/healthz`, `/readyz`, `/metrics`, the dashboard's files and the live
stream (which holds no connection) answer whatever the load.

Each admitted answer says how long it waited for its turn and how long it then took, in a `Server-Timing` header
(`queue;dur=…, app;dur=…` in ms, the W3C format a browser's developer tools show), and in the histogram
`pulse_api_request_seconds` by route: what the API itself spent, apart from the network and the client.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SHED = Counter("pulse_api_requests_shed_total", "API requests answered 503 because the API was saturated")
IN_FLIGHT = Gauge("pulse_api_requests_in_flight", "API requests being served (at most PULSE_API_DB_POOL)")
REQUEST_SECONDS = Histogram(
    "pulse_api_request_seconds",
    "Admitted API requests: from their turn to the answer's headers, by route (the path's template)",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0),
)
QUEUE_SECONDS = Histogram(
    "pulse_api_queue_seconds",
    "Admitted API requests: time waiting for a turn",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
)
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
        arrived = time.perf_counter()
        try:
            async with asyncio.timeout(self.max_wait_s):
                await self._turns.acquire()
        except TimeoutError:
            SHED.inc()
            await overloaded(self.max_wait_s)(scope, receive, send)
            return
        began = time.perf_counter()
        QUEUE_SECONDS.observe(began - arrived)

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = time.perf_counter() - began
                route = scope.get("route")
                REQUEST_SECONDS.labels(getattr(route, "path", "unmatched")).observe(took)
                MutableHeaders(scope=message).append(
                    "Server-Timing", f"queue;dur={(began - arrived) * 1000:.1f}, app;dur={took * 1000:.1f}"
                )
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, timed)
        finally:
            IN_FLIGHT.dec()
            self._turns.release()
