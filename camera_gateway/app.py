"""The camera gateway (`pulse camera-gateway`, SPEC §4): health, readiness and metrics.

The push API (`POST /v1/heartbeats`), its on-disk spool and the stream prober are built on this app by the
camera-pipeline and prober issues; until then the gateway only reports whether Kafka is reachable.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.core.http import kafka_component_app
from services.core.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    return kafka_component_app("commune-pulse camera gateway", settings)
