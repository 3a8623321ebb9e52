"""The app-events collector (`pulse app-events`, SPEC §7): health, readiness and metrics.

`POST /v1/events` (validation, pseudonymization, Kafka) is built on this app by the app-events issue; until
then the collector only reports whether Kafka is reachable.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.core.http import health_router
from services.core.kafka import broker_reachable
from services.core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    async def kafka_ready() -> bool:
        return await broker_reachable(settings)

    app = FastAPI(title="commune-pulse app-events collector", version="0.1.0")
    app.state.settings = settings
    app.include_router(health_router({"kafka": kafka_ready}))
    return app
