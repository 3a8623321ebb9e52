"""The camera gateway (`pulse camera-gateway`, SPEC §4): health, readiness and metrics.

The push API (`POST /v1/heartbeats`), its on-disk spool and the stream prober are built on this app by the
camera-pipeline and prober issues; until then the gateway only reports whether Kafka is reachable.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.core.http import health_router
from services.core.kafka import broker_reachable
from services.core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    async def kafka_ready() -> bool:
        return await broker_reachable(settings)

    app = FastAPI(title="commune-pulse camera gateway", version="0.1.0")
    app.state.settings = settings
    app.include_router(health_router({"kafka": kafka_ready}))
    return app
