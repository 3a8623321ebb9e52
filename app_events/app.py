"""The app-events collector (`pulse app-events`, SPEC §7): health, readiness and metrics.

`POST /v1/events` (validation, pseudonymization, Kafka) is built on this app by the app-events issue; until
then the collector only reports whether Kafka is reachable.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.core.http import kafka_component_app
from services.core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    return kafka_component_app("commune-pulse app-events collector", settings)
