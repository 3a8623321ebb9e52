"""The app-events collector (`pulse app-events`, SPEC §7): `POST /v1/events`, health and metrics.

A request is authenticated by its app key (`pulse apps add`), limited per client address, read within 1 MiB (gzip
allowed), checked as an envelope (400 as a whole) and then event by event (`validation.py`), limited per client
(app and install; 429 with Retry-After), and only then pseudonymized: the citizen's `user_id` (or the `install_id`
when anonymous) becomes `subject = HMAC-SHA256(PULSE_PSEUDONYM_KEY, id)` before anything is written to Kafka, and
the raw ids and the client's address are never logged or stored. Accepted events go to `app.events`, one message
per subject and request holding that subject's events (key: subject); rejected ones go to `app.events.dlq` with
their reason, already pseudonymized. The reply waits for Kafka (acks=all); when Kafka is away the request fails
with 503 and the app retries with the same event ids (the app keeps its own offline queue; ingest deduplicates on
event_id).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from pydantic_core import from_json, to_json

from app_events.messages import event_record, subject_message, subject_partition
from app_events.validation import (
    ENVELOPE_SCHEMA,
    CheckedEvent,
    EnvelopeError,
    check_envelope,
    check_event,
    event_time,
    pseudonym,
    too_late,
)
from services.core import kafka
from services.core.db import connect
from services.core.http import CredentialFailures, client_address, health_router
from services.core.http_body import read_limited
from services.core.settings import ConfigError, Settings
from services.core.token_cache import TokenCache

MAX_BODY = 1 << 20
RETRY_AFTER_S = 30

EVENTS_ACCEPTED = Counter("pulse_app_events_accepted_total", "App events accepted into Kafka")
EVENTS_REJECTED = Counter("pulse_app_events_rejected_total", "App events rejected, by reason", ["reason"])
THROTTLED = Counter("pulse_app_events_throttled_total", "Requests refused with 429")


def _app_keys(settings: Settings) -> Callable[[], dict[str, int]]:
    def load() -> dict[str, int]:
        with connect(settings, autocommit=True) as conn:
            rows = conn.execute("SELECT app_id, key_hash FROM apps WHERE revoked_at IS NULL").fetchall()
        return {r["key_hash"]: r["app_id"] for r in rows}

    return load


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = _utc_now) -> FastAPI:
    if settings.pseudonym_key is None:
        raise ConfigError(
            "configuration error: PULSE_PSEUDONYM_KEY: required by the app-events collector (a long random secret)"
        )
    key = settings.pseudonym_key.get_secret_value().encode()
    topic, dlq_topic = kafka.topic(settings, kafka.APP_EVENTS), kafka.topic(settings, kafka.APP_EVENTS_DLQ)
    producer = AIOKafkaProducer(
        **kafka.client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type="lz4",
        request_timeout_ms=10_000,
    )
    keys: TokenCache[int] = TokenCache(_app_keys(settings))
    limiter = MovingWindowRateLimiter(MemoryStorage())
    rate = RateLimitItemPerMinute(settings.app_events_rate_per_minute)
    per_address = RateLimitItemPerMinute(settings.app_events_rate_per_address_per_minute)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await producer.start()
        try:
            yield
        finally:
            await producer.stop()

    async def kafka_ready() -> bool:
        return await kafka.broker_reachable(settings)

    app = FastAPI(title="commune-pulse app-events collector", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    failures = CredentialFailures(settings.token_failures_per_15min)
    app.include_router(health_router({"kafka": kafka_ready}))

    @app.post(
        "/v1/events",
        summary="Send app events (1 to 500 per request, ≤ 1 MiB, gzip allowed)",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ENVELOPE_SCHEMA}}}},
    )
    async def post_events(
        request: Request, x_app_key: Annotated[str | None, Header(description="the app's public key")] = None
    ) -> Any:
        address = f"addr:{client_address(request)}"
        failures.refuse_if_blocked(address)
        app_id = await keys.lookup(x_app_key)
        if app_id is None:
            failures.failed(address)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing, unknown or revoked X-App-Key")
        if not limiter.hit(per_address, "address", address):  # before the body is read: install ids can be made up
            THROTTLED.inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"more than {per_address.amount} requests a minute from this address",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        body = await read_limited(request, MAX_BODY)
        try:
            # pydantic-core's parser also refuses lone UTF-16 surrogates ("\ud800"), which are not text and
            # could not be hashed or written to Kafka later.
            envelope = check_envelope(from_json(body))
        except ValueError as exc:
            if isinstance(exc, EnvelopeError):
                raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body: not valid JSON ({exc})") from None
        install_subject = pseudonym(key, envelope.install_id)
        if not limiter.hit(rate, str(app_id), install_subject):
            THROTTLED.inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"more than {rate.amount} requests a minute from this install",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        received_at = clock()
        context = {
            "app_id": app_id,
            "platform": envelope.platform,
            "app_version": envelope.app_version,
            "os_version": envelope.os_version,
            "locale": envelope.locale,
        }
        # Accepted events are grouped by subject: one Kafka message per citizen per request (a phone's batch is
        # nearly always one citizen), keyed and partitioned by the subject.
        by_subject: dict[str, list[dict[str, Any]]] = {}
        rejected: list[dict[str, Any]] = []
        dead: list[tuple[bytes, bytes]] = []
        for index, raw in enumerate(envelope.events):
            checked = check_event(raw)
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            if isinstance(checked, CheckedEvent):
                when = event_time(received_at=received_at, sent_at=envelope.sent_at, created_at=checked.created_at)
                if too_late(received_at=received_at, at=when):
                    checked_reason = "too_late: the event is more than 7 days old"
                else:
                    subject = pseudonym(key, checked.user_id) if checked.user_id else install_subject
                    by_subject.setdefault(subject, []).append(event_record(checked, when))
                    continue
            else:
                checked_reason = checked
            rejected.append({"index": index, "event_id": event_id, "reason": checked_reason})
            EVENTS_REJECTED.labels(checked_reason.split(":", 1)[0]).inc()
            dead.append(
                (
                    install_subject.encode(),
                    to_json(_dead_letter(raw, checked_reason, key, install_subject, received_at, context)),
                )
            )
        messages = [
            (
                subject.encode(),
                subject_message(
                    subject=subject,
                    install_subject=install_subject,
                    unit_set=settings.unit_set,
                    received_at=received_at,
                    context=context,
                    events=events,
                ),
            )
            for subject, events in by_subject.items()
        ]
        try:
            partitions = sorted(await producer.partitions_for(topic))
            futures = [
                await producer.send(topic, value, key=k, partition=subject_partition(k, partitions))
                for k, value in messages
            ]
            futures += [await producer.send(dlq_topic, value, key=k) for k, value in dead]
            await asyncio.wait_for(asyncio.gather(*futures), timeout=10)
        except (KafkaError, TimeoutError) as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"events could not be stored ({exc.__class__.__name__}); retry",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        accepted = sum(len(events) for events in by_subject.values())
        EVENTS_ACCEPTED.inc(accepted)
        return JSONResponse({"accepted": accepted, "rejected": rejected})

    return app


def _dead_letter(
    raw: Any, reason: str, key: bytes, install_subject: str, received_at: datetime, context: dict
) -> dict[str, Any]:
    """The rejected event as stored in the dead-letter topic: its ids already pseudonymized (the DLQ is
    storage too), with the reason and the stage."""
    payload = dict(raw) if isinstance(raw, dict) else {"value": str(raw)[:2000]}
    user_id = payload.pop("user_id", None)
    payload["subject"] = pseudonym(key, user_id) if isinstance(user_id, str) and user_id else install_subject
    return {"reason": reason, "stage": "collector", "received_at": received_at, "payload": payload, **context}
