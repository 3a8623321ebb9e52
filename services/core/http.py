"""What every HTTP component serves besides its API (SPEC §2): `/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadyCheck = Callable[[], Awaitable[bool]]


def health_router(checks: dict[str, ReadyCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Its Kafka/database are reachable (503 otherwise)")
    async def readyz() -> JSONResponse:
        results = {name: await check() for name, check in checks.items()}
        ok = all(results.values())
        body = {
            "status": "ready" if ok else "not ready",
            "checks": {k: "ok" if v else "down" for k, v in results.items()},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class CredentialFailures:
    """Wrong tokens, app keys or passwords, counted per client address over a moving 15-minute window (in this
    process): past the limit a client is answered 429 with Retry-After until the window frees up, so secrets
    cannot be guessed by volume and a misconfigured client does not flood the database with lookups."""

    def __init__(self, per_15min: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._limit = RateLimitItemPerMinute(per_15min, 15)

    def retry_after(self, *keys: str) -> int | None:
        """Seconds a client must wait, or None when none of its keys is over the limit."""
        for key in keys:
            if not self._limiter.test(self._limit, key):
                reset_at, _ = self._limiter.get_window_stats(self._limit, key)
                return max(1, int(reset_at - time.time()) + 1)
        return None

    def failed(self, *keys: str) -> bool:
        """Count a failure; True when it is the one that locks a key out (the moment to record, once)."""
        was_open = self.retry_after(*keys) is None
        for key in keys:
            self._limiter.hit(self._limit, key)
        return was_open and self.retry_after(*keys) is not None

    def refuse_if_blocked(self, *keys: str) -> None:
        wait = self.retry_after(*keys)
        if wait is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many failed attempts: try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )


def client_address(request: Any) -> str:
    return request.client.host if request.client else "?"
