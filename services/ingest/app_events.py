"""The app-event processor: a Kafka message's bytes in, rows for the database out. Pure (no Kafka, no SQL).

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


def _code(message: dict[str, Any], field: str) -> str | None:
    code = message.get(field)
    if code is not None and (not isinstance(code, str) or not _CODE.match(code)):
        raise ValueError(f"{field}: expected a code")
    return code


def process_message(value: bytes | None, *, tz: tzinfo) -> tuple[EventRow, ...]:
    """One collector message — one subject's events from one request — as rows; any flaw refuses it whole."""
    if value is None:
        raise ValueError("empty message")
    try:
        message = from_json(value)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("v") != 2:
        raise ValueError("not an app-events message (v 2)")
    subject = message.get("subject")
    if not isinstance(subject, str) or not _SUBJECT.match(subject):
        raise ValueError("subject: expected a pseudonym (64 hex digits)")
    unit_set = _code(message, "unit_set")
    app_id = message.get("app_id")
    if app_id is not None and (not isinstance(app_id, int) or isinstance(app_id, bool)):
        raise ValueError("app_id: expected an integer")
    platform = _optional_text(message, "platform", 16)
    app_version = _optional_text(message, "app_version", 32)
    received_at = _time(message, "received_at")
    events = message.get("events")
    if not isinstance(events, list) or not events:
        raise ValueError("events: expected a non-empty list")
    rows = []
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise ValueError(f"events[{i}]: expected an object")
        try:
            rows.append(_row(event, subject, unit_set, app_id, platform, app_version, received_at, tz))
        except ValueError as exc:
            raise ValueError(f"events[{i}].{exc}") from None
    return tuple(rows)


def _row(
    event: dict[str, Any],
    subject: str,
    unit_set: str | None,
    app_id: int | None,
    platform: str | None,
    app_version: str | None,
    received_at: datetime,
    tz: tzinfo,
) -> EventRow:
    try:
        event_id = uuid.UUID(str(event.get("event_id")))
    except ValueError:
        raise ValueError("event_id: expected a UUID") from None
    name = event.get("event")
    if not isinstance(name, str) or not _EVENT.match(name):
        raise ValueError("event: expected an event name")
    unit_code = _code(event, "unit_code")
    named_set = _code(event, "unit_set")  # the app named the list its code is from (SPEC §3)
    properties = event.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError("properties: expected an object")
    background = event.get("background", False)
    if not isinstance(background, bool):
        raise ValueError("background: expected true or false")
    event_time = _time(event, "event_time")
    return EventRow(
        event_time=event_time,
        event_id=event_id,
        event=name,
        subject=subject,
        unit_set=(named_set or unit_set) if unit_code is not None else None,
        unit_code=unit_code,
        session_id=_optional_text(event, "session_id", 64),
        app_id=app_id,
        platform=platform,
        app_version=app_version,
        properties=to_json(properties).decode(),
        received_at=received_at,
        background=background,
        day=event_time.astimezone(tz).date(),
    )
