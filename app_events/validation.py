"""Checking a batch of app events and making it private (SPEC §7). Pure: no HTTP, no Kafka.

`check_envelope` fails the whole request (400) only for a body that is not an envelope; `check_event` rejects one
event with its index and a reason, so one bad event never costs the others. `event_time` corrects the device's
clock: event_time = received_at − (sent_at − created_at), or received_at when that cannot be trusted.
`pseudonym` turns the citizen's id into the subject before anything leaves the collector.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app_events import registry
from services.core.heartbeats import parse_rfc3339

MAX_EVENTS = 500
MAX_PROPERTIES = 30
MAX_VALUE_BYTES = 2000
MAX_AHEAD = timedelta(hours=23)
MAX_LATE = timedelta(days=7)
PLATFORMS = ("android", "ios", "web")
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class EnvelopeError(ValueError):
    """The body is not an envelope: 400, nothing accepted. The message names the field."""


@dataclass(frozen=True)
class Envelope:
    sent_at: datetime | None  # None when unparseable: every event then falls back to received_at
    install_id: str
    platform: str
    app_version: str
    os_version: str
    locale: str
    events: list[Any]


@dataclass(frozen=True)
class CheckedEvent:
    event_id: uuid.UUID
    event: str
    created_at: datetime
    user_id: str | None
    unit_code: str | None
    unit_set: str | None
    session_id: str | None
    properties: dict[str, Any]
    known: bool
    background: bool


def _text(value: Any, field: str, *, limit: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise EnvelopeError(f"{field}: expected a non-empty string of at most {limit} characters")
    return value


# The request body as an OpenAPI schema: documentation for the app team (and the schemathesis tests); the checks
# below are what decides, and they answer per field and per event.
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["context", "events"],
    "properties": {
        "sent_at": {"type": "string", "format": "date-time", "description": "the device clock when sent"},
        "context": {
            "type": "object",
            "required": ["install_id", "platform", "app_version"],
            "properties": {
                "install_id": {"type": "string", "format": "uuid"},
                "platform": {"enum": list(PLATFORMS)},
                "app_version": {"type": "string", "maxLength": 32},
                "os_version": {"type": "string", "maxLength": 32},
                "locale": {"type": "string", "maxLength": 16},
            },
        },
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_EVENTS,
            "items": {
                "type": "object",
                "required": ["event_id", "event", "created_at"],
                "properties": {
                    "event_id": {"type": "string", "format": "uuid"},
                    "event": {"type": "string", "pattern": _EVENT_NAME.pattern},
                    "created_at": {"type": "string", "format": "date-time"},
                    "user_id": {"type": "string", "minLength": 1, "maxLength": 128},
                    "unit_code": {"type": "string", "pattern": _CODE.pattern},
                    "unit_set": {"type": "string", "pattern": _CODE.pattern},
                    "session_id": {"type": "string", "maxLength": 64},
                    "properties": {"type": "object", "maxProperties": MAX_PROPERTIES},
                },
            },
        },
    },
}


def check_envelope(body: Any) -> Envelope:
    if not isinstance(body, dict):
        raise EnvelopeError("body: expected a JSON object with sent_at, context and events")
    context = body.get("context")
    if not isinstance(context, dict):
        raise EnvelopeError("context: expected an object")
    try:
        install_id = str(uuid.UUID(_text(context.get("install_id"), "context.install_id", limit=64)))
    except ValueError:
        raise EnvelopeError("context.install_id: expected a UUID") from None
    platform = context.get("platform")
    if platform not in PLATFORMS:
        raise EnvelopeError(f"context.platform: expected one of {', '.join(PLATFORMS)}")
    events = body.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise EnvelopeError(f"events: expected a list of 1 to {MAX_EVENTS} events")
    try:
        sent_at: datetime | None = parse_rfc3339(body.get("sent_at"))
    except ValueError:
        sent_at = None
    return Envelope(
        sent_at=sent_at,
        install_id=install_id,
        platform=platform,
        app_version=_text(context.get("app_version"), "context.app_version", limit=32),
        os_version=_text(context.get("os_version"), "context.os_version", limit=32, required=False),
        locale=_text(context.get("locale"), "context.locale", limit=16, required=False),
        events=events,
    )


def check_event(raw: Any) -> CheckedEvent | str:
    """The event, or the reason it is rejected (`invalid: <field>: …`)."""
    if not isinstance(raw, dict):
        return "invalid: event: expected a JSON object"
    try:
        event_id = uuid.UUID(str(raw.get("event_id")))
    except ValueError:
        return "invalid: event_id: expected a UUID"
    name = raw.get("event")
    if not isinstance(name, str) or not _EVENT_NAME.match(name):
        return "invalid: event: expected a name matching [a-z][a-z0-9_]{0,63}"
    try:
        created_at = parse_rfc3339(raw.get("created_at"))
    except ValueError as exc:
        return f"invalid: created_at: {exc}"
    user_id = raw.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or not 1 <= len(user_id) <= 128):
        return "invalid: user_id: expected a string of 1 to 128 characters"
    unit_code = raw.get("unit_code")
    if unit_code is not None and (not isinstance(unit_code, str) or not _CODE.match(unit_code)):
        return "invalid: unit_code: expected a unit code"
    # The list `unit_code` comes from (SPEC §3: "unless the record names its unit_set"), e.g. an app updated for a
    # reform names the new list; without it the collector's PULSE_UNIT_SET is meant.
    unit_set = raw.get("unit_set")
    if unit_set is not None and (not isinstance(unit_set, str) or not _CODE.match(unit_set)):
        return "invalid: unit_set: expected a unit set name"
    session_id = raw.get("session_id")
    if session_id is not None and (not isinstance(session_id, str) or len(session_id) > 64):
        return "invalid: session_id: expected a string of at most 64 characters"
    properties = raw.get("properties", {})
    if not isinstance(properties, dict):
        return "invalid: properties: expected an object"
    if len(properties) > MAX_PROPERTIES:
        return f"invalid: properties: at most {MAX_PROPERTIES} properties"
    for key, value in properties.items():
        if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_VALUE_BYTES:
            return f"invalid: properties.{key}: value over {MAX_VALUE_BYTES} bytes"
    problem = registry.property_problem(name, properties)
    if problem is not None:
        return f"invalid: {problem}"
    return CheckedEvent(
        event_id,
        name,
        created_at,
        user_id,
        unit_code,
        unit_set,
        session_id,
        properties,
        known=registry.is_known(name),
        background=registry.is_background(name),
    )


def event_time(*, received_at: datetime, sent_at: datetime | None, created_at: datetime) -> datetime:
    """The device's clock error removed: received_at − (sent_at − created_at); received_at when sent_at is
    missing or the result would be more than 23 h ahead of received_at."""
    if sent_at is None:
        return received_at
    try:
        corrected = received_at - (sent_at - created_at)
    except OverflowError:  # clocks centuries apart: nothing to correct with
        return received_at
    return received_at if corrected - received_at > MAX_AHEAD else corrected


def too_late(*, received_at: datetime, at: datetime) -> bool:
    return received_at - at > MAX_LATE


def pseudonym(key: bytes, citizen_id: str) -> str:
    """subject = HMAC-SHA256(PULSE_PSEUDONYM_KEY, user_id or install_id), hex. The raw id goes no further."""
    return hmac.new(key, citizen_id.encode(), hashlib.sha256).hexdigest()
