"""What every HTTP component serves besides its API (SPEC §2): `/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
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
