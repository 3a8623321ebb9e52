"""The camera gateway (`pulse camera-gateway`, SPEC §4): `POST /v1/heartbeats`, `POST /v1/keepalive`, health.

A push is authenticated by its gateway token, validated item by item (one bad item never rejects the others),
checked against the gateway's units, and handed to the `Publisher`, which answers only once every accepted
heartbeat is in Kafka or fsynced in the spool. When `PULSE_PROBER_TOKEN` is set, the stream prober runs here
too and publishes through the same `Publisher`; when `PULSE_COLLECTOR_TOKEN` is set, so does the device collector
(`devices.manager`), which also takes the alarms devices push to `POST /v1/devices/{token}/events`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter
from pydantic import BaseModel, Field

from camera_gateway.devices.manager import DeviceCollector
from camera_gateway.prober import Prober
from camera_gateway.publisher import Publisher, heartbeat_records, keepalive_record
from camera_gateway.registry import KnownGateway, Registry
from camera_gateway.spool import Record, Spool, SpoolFull, SpoolInUse
from services.core import kafka
from services.core.heartbeats import (
    Delivery,
    HeartbeatItem,
    Rejection,
    WireItem,
    parse_rfc3339,
    validate_item,
)
from services.core.http import CredentialFailures, client_address, health_router
from services.core.http_body import read_limited
from services.core.settings import ConfigError, Settings

MAX_BODY = 1 << 20
MAX_DEVICE_PUSH = 4 << 20  # an alarm with a few JPEG pictures
MAX_ITEMS = 1000
RETRY_AFTER_S = 30

ACCEPTED = Counter("pulse_gateway_heartbeats_accepted_total", "Heartbeats accepted (in Kafka or the spool)")
REJECTED = Counter("pulse_gateway_heartbeats_rejected_total", "Heartbeats rejected, by reason", ["reason"])
REQUESTS = Counter("pulse_gateway_requests_total", "Push requests by status", ["status"])

Clock = Callable[[], datetime]
_bearer = HTTPBearer(auto_error=False, description="The gateway's token (`pulse gateways add`)")


class HeartbeatBatch(BaseModel):
    """Documentation of the body; parsing is done by hand so that one bad item rejects only itself."""

    heartbeats: list[HeartbeatItem] = Field(min_length=1, max_length=MAX_ITEMS)


class RejectedItem(BaseModel):
    index: int
    reason: str


class PushReply(BaseModel):
    accepted: int
    rejected: list[RejectedItem]


class KeepAliveIn(BaseModel):
    ts: str | None = Field(default=None, description="RFC 3339; the gateway's own clock (default: now)")


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def current_gateway(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> KnownGateway:
    registry: Registry = request.app.state.registry
    failures: CredentialFailures = request.app.state.token_failures
    address = f"addr:{client_address(request)}"
    failures.refuse_if_blocked(address)
    gateway = await registry.gateway_for_token(credentials.credentials) if credentials else None
    if gateway is None:
        failures.failed(address)
        REQUESTS.labels("401").inc()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing, invalid or revoked gateway token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return gateway


Gateway = Annotated[KnownGateway, Depends(current_gateway)]


def create_app(settings: Settings, *, clock: Clock = _utc_now, registry: Registry | None = None) -> FastAPI:
    registry = registry or Registry(settings)
    try:
        spool = Spool(settings.data_dir / "spool", max_bytes=settings.spool_max_bytes)
    except SpoolInUse as exc:
        raise ConfigError(
            f"configuration error: PULSE_DATA_DIR: {exc} — another gateway uses it; give each gateway its own"
        ) from None
    publisher = Publisher(
        kafka=kafka.client_options(settings),
        topic=kafka.topic(settings, kafka.HEARTBEATS),
        spool=spool,
        send_timeout_s=settings.gateway_send_timeout_s,
    )

    prober = Prober(settings, registry, publisher, clock)
    collector = DeviceCollector(settings, registry, publisher, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await registry.start()
        await publisher.start()
        await prober.start()
        await collector.start()
        try:
            yield
        finally:
            await collector.stop()
            await prober.stop()
            await publisher.stop()
            await registry.stop()
            spool.close()

    async def kafka_ready() -> bool:
        return not publisher.spooling

    app = FastAPI(title="commune-pulse camera gateway", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.publisher = publisher
    app.state.registry = registry
    app.state.collector = collector
    app.state.token_failures = CredentialFailures(settings.token_failures_per_15min)
    app.include_router(health_router({"kafka": kafka_ready}))

    async def publish(records: list[Record]) -> None:
        try:
            await publisher.publish(records)
        except SpoolFull:
            REQUESTS.labels("503").inc()
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "Kafka unreachable and the spool is full; retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None

    @app.post(
        "/v1/heartbeats",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=PushReply,
        summary="Push camera heartbeats (1 to 1,000 per request, ≤ 1 MiB, gzip allowed)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": HeartbeatBatch.model_json_schema()}},
            },
            "security": [{_bearer.scheme_name: []}],
        },
        responses={
            400: {"description": "body is not a JSON object with a heartbeats list of 1 to 1,000 items"},
            401: {"description": "bad token"},
            413: {"description": "body over 1 MiB"},
            503: {"description": "Kafka unreachable and spool full; see Retry-After"},
        },
    )
    async def push_heartbeats(request: Request) -> Any:
        # The token checked here, not by a dependency: FastAPI's dependency solving was a quarter of the gateway's
        # time on a one-item request (docs/benchmarks.md §2). The OpenAPI security is declared below.
        gateway = await current_gateway(request, await _bearer(request))
        raw_items = _parse_envelope(await read_limited(request, MAX_BODY))
        now = clock()
        delivery = Delivery(gateway.gateway_id, gateway.home[0], gateway.home[1], now)
        accepted: list[WireItem] = []
        rejected: list[Rejection] = []
        for index, raw in enumerate(raw_items):
            checked = validate_item(raw, index=index, now=now)
            if isinstance(checked, Rejection):
                rejected.append(checked)
                continue
            unit = registry.camera_unit(checked.camera_id)
            if unit is not None and unit not in gateway.scope:
                rejected.append(
                    Rejection(
                        index,
                        f"out_of_scope: camera {checked.camera_id} is in unit {unit[1]} "
                        f"(set {unit[0]}), not one of this gateway's units",
                    )
                )
                continue
            accepted.append(checked)
        await publish(heartbeat_records(accepted, delivery))
        ACCEPTED.inc(len(accepted))
        for r in rejected:
            REJECTED.labels(r.reason.split(":", 1)[0]).inc()
        REQUESTS.labels("202").inc()
        body = {"accepted": len(accepted), "rejected": [{"index": r.index, "reason": r.reason} for r in rejected]}
        return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED)

    @app.post(
        "/v1/keepalive", status_code=status.HTTP_202_ACCEPTED, summary="The gateway is alive (moves its watermark)"
    )
    async def keepalive(gateway: Gateway, body: KeepAliveIn | None = None) -> dict[str, str]:
        now = clock()
        try:
            ts = parse_rfc3339(body.ts) if body and body.ts else now
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"ts: {exc}") from None
        ts = min(ts, now)  # a keep-alive cannot vouch for the future
        await publish([keepalive_record(gateway.gateway_id, ts, now)])
        return {"watermark": ts.isoformat()}

    @app.post(
        "/v1/devices/{token}/events",
        summary="Alarms a device pushes to the gateway (Hikvision 'HTTP listening'): XML or multipart with pictures",
        responses={
            200: {"description": "read (pictures are ignored)"},
            400: {"description": "the body holds no event the gateway can read"},
            404: {"description": "no device with this path token is collected here"},
            413: {"description": "body over 4 MiB"},
        },
    )
    async def device_push(token: str, request: Request) -> dict[str, int]:
        # Cameras cannot send a bearer header: the device's own token is the last part of the URL it posts to.
        from camera_gateway.devices.hikvision import parse_push

        failures: CredentialFailures = request.app.state.token_failures
        address = f"addr:{client_address(request)}"
        failures.refuse_if_blocked(address)
        link = collector.link_for_token(token) if collector.running else None
        if link is None:
            failures.failed(address)
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no device with this token is collected by this gateway")
        body = await read_limited(request, MAX_DEVICE_PUSH)
        try:
            offset = int(link.config.option("ip_channel_offset", 0))
            events = parse_push(body, request.headers.get("content-type", ""), ip_channel_offset=offset)
        except ValueError as exc:
            link.malformed(f"pushed alarm: {exc}")
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body: {exc}") from None
        link.connected()
        await link.events(events)
        return {"events": len(events)}

    return app


def _parse_envelope(body: bytes) -> list[Any]:
    """The whole request fails only here: not JSON, not an object with a `heartbeats` list of 1 to 1,000."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body: not valid JSON ({exc})") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("heartbeats"), list):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body: expected a JSON object with a 'heartbeats' list")
    items = envelope["heartbeats"]
    if not 1 <= len(items) <= MAX_ITEMS:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"heartbeats: expected 1 to {MAX_ITEMS} items, got {len(items)}"
        )
    return items
