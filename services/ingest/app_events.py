"""The app-event processor: a Kafka message's bytes in, a row for the database out. Pure (no Kafka, no SQL).

The collector has already checked the event and pseudonymized it; this side trusts nothing anyway. A message
that is not what the collector writes — or whose subject is not an HMAC (a raw id must never be stored) —
raises `ValueError` with the reason, and the consumer sends it to `app.events.dlq`.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, tzinfo
from typing import Any, NamedTuple

from pydantic_core import from_json, to_json

from services.core.heartbeats import parse_rfc3339

_SUBJECT = re.compile(r"^[0-9a-f]{64}$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class EventRow(NamedTuple):
    """One row for the staging table, in its column order."""

    event_time: datetime
    event_id: uuid.UUID
    event: str
    subject: str
    unit_set: str | None
    unit_code: str | None
    session_id: str | None
    app_id: int | None
    platform: str | None
    app_version: str | None
    properties: str  # JSON text, for COPY into jsonb
    received_at: datetime
    background: bool
    day: date  # event_time's calendar day in PULSE_TIMEZONE (SPEC §8)


def _optional_text(message: dict[str, Any], field: str, limit: int) -> str | None:
    value = message.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{field}: expected a string of at most {limit} characters")
    return value


def _time(message: dict[str, Any], field: str) -> datetime:
    try:
        return parse_rfc3339(message.get(field))
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def process_event(value: bytes | None, *, tz: tzinfo) -> EventRow:
    if value is None:
        raise ValueError("empty message")
    try:
        message = from_json(value)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("v") != 1:
        raise ValueError("not an app event (v 1)")
    try:
        event_id = uuid.UUID(str(message.get("event_id")))
    except ValueError:
        raise ValueError("event_id: expected a UUID") from None
    event = message.get("event")
    if not isinstance(event, str) or not _EVENT.match(event):
        raise ValueError("event: expected an event name")
    subject = message.get("subject")
    if not isinstance(subject, str) or not _SUBJECT.match(subject):
        raise ValueError("subject: expected a pseudonym (64 hex digits)")
    unit_set, unit_code = message.get("unit_set"), message.get("unit_code")
    for field, code in (("unit_set", unit_set), ("unit_code", unit_code)):
        if code is not None and (not isinstance(code, str) or not _CODE.match(code)):
            raise ValueError(f"{field}: expected a code")
    app_id = message.get("app_id")
    if app_id is not None and (not isinstance(app_id, int) or isinstance(app_id, bool)):
        raise ValueError("app_id: expected an integer")
    properties = message.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError("properties: expected an object")
    background = message.get("background", False)
    if not isinstance(background, bool):
        raise ValueError("background: expected true or false")
    event_time = _time(message, "event_time")
    return EventRow(
        event_time=event_time,
        event_id=event_id,
        event=event,
        subject=subject,
        unit_set=unit_set if unit_code is not None else None,
        unit_code=unit_code,
        session_id=_optional_text(message, "session_id", 64),
        app_id=app_id,
        platform=_optional_text(message, "platform", 16),
        app_version=_optional_text(message, "app_version", 32),
        properties=to_json(properties).decode(),
        received_at=_time(message, "received_at"),
        background=background,
        day=event_time.astimezone(tz).date(),
    )
