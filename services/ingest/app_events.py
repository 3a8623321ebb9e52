"""The app-event processor: a Kafka message's bytes in, rows for the database out. Pure (no Kafka, no SQL).

The collector has already checked the event and pseudonymized it; this side trusts nothing anyway. A message
that is not what the collector writes — or whose subject is not an HMAC (a raw id must never be stored) —
raises `ValueError` with the reason, and the consumer sends it to `app.events.dlq`.

`process_message` decodes with msgspec (C) into Structs that carry the message's types and limits, then checks
the rest (names and codes, times, properties) and builds the rows. Only a message it refuses goes through
`decode_by_hand`, the field-by-field checks in Python that word the reason; a property test holds the two to the
same rows and the same refusals.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import date, datetime, tzinfo
from typing import Annotated, Any, NamedTuple

import msgspec
from pydantic_core import from_json, to_json

from services.core.heartbeats import parse_rfc3339

SUBJECT_PATTERN = r"^[0-9a-f]{64}$"
CODE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
EVENT_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_SUBJECT = re.compile(SUBJECT_PATTERN)
_CODE = re.compile(CODE_PATTERN)
_EVENT = re.compile(EVENT_PATTERN)


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
    properties: bytes  # JSON text of an object (UTF-8), as received: COPY it into jsonb
    received_at: datetime
    background: bool
    day: date  # event_time's calendar day in PULSE_TIMEZONE (SPEC §8)


# --- the fast path: msgspec ------------------------------------------------------------------------------
#
# Times stay strings here and go through `datetime.fromisoformat`, as in `parse_rfc3339`: msgspec's RFC 3339 would
# take a lowercase 't' or 'z' that it refuses, refuse '+07', a space or '…T17Z' that it takes, and round a 7th
# fractional digit where it truncates. Unknown fields are ignored, as they always were.

_NO_PROPERTIES = msgspec.Raw(b"{}")
_EMPTY_OBJECT = b"{}"


class _WireEvent(msgspec.Struct, gc=False):
    event_id: uuid.UUID
    event: str  # checked against EVENT_PATTERN in `_rows`
    event_time: str
    unit_code: str | None = None  # checked against CODE_PATTERN in `_rows`
    unit_set: str | None = None  # (likewise) the app named the list its code is from (SPEC §3)
    session_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    properties: msgspec.Raw = _NO_PROPERTIES  # kept as JSON text; `_rows` checks it is an object
    background: bool = False


class _WireMessage(msgspec.Struct, gc=False):
    v: Annotated[float, msgspec.Meta(ge=2, le=2)]  # the check has always been `== 2`, which 2.0 passes too
    subject: Annotated[str, msgspec.Meta(pattern=SUBJECT_PATTERN)]
    received_at: str
    events: Annotated[list[_WireEvent], msgspec.Meta(min_length=1)]
    unit_set: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)] | None = None
    app_id: int | None = None
    platform: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    app_version: Annotated[str, msgspec.Meta(max_length=32)] | None = None


_DECODER = msgspec.json.Decoder(_WireMessage)


# msgspec runs a `pattern` through Python's `re` for every value (≈ 0.3 µs, a fifth of an event's decoding); event
# names and codes are few distinct strings, so each is matched once and remembered. What is remembered is the
# first copy seen, which every row then shares: a batch of rows takes less memory and less garbage-collector time.
@functools.lru_cache(maxsize=4096)
def _valid_event_name(text: str) -> str | None:
    return text if _EVENT.match(text) else None


@functools.lru_cache(maxsize=4096)
def _valid_code(text: str) -> str | None:
    return text if _CODE.match(text) else None


# pydantic-core refuses JSON nested deeper than 200 levels; msgspec passes over raw properties checking their syntax
# only. The properties object is level 4 (message, events, event, properties) and a level takes two bytes, so
# properties of n bytes reach level 3 + n/2 at most: up to this many bytes they are shallow enough, longer ones are
# left to pydantic-core. Unknown fields are not worth a pass over every message: one nested 201 to ~1,000 levels
# (Python's recursion limit), which pydantic-core refused, is now ignored like any other unknown field.
_SHALLOW_PROPERTIES_BYTES = 2 * (200 - 3)


# EventRow's own constructor is a Python function around this call; rows are made by the hundred thousand.
_new_row = tuple.__new__


class _Refused(ValueError):
    """The fast path found a flaw; `decode_by_hand` says which."""


def process_message(value: bytes | None, *, tz: tzinfo) -> tuple[EventRow, ...]:
    """One collector message — one subject's events from one request — as rows; any flaw refuses it whole."""
    if value is None:
        raise ValueError("empty message")
    try:
        return _rows(value, _DECODER.decode(value), tz)
    # RecursionError: msgspec passing over JSON nested deeper than Python's recursion limit.
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, _Refused) as exc:
        refusal = exc
    decode_by_hand(value, tz=tz)  # raises ValueError with the reason
    # The checks in Python take a few things msgspec refuses (an event_id such as '{…}', NaN, a duplicate key whose
    # first value is wrong): refuse them all the same, in msgspec's words, rather than store what it refused.
    if isinstance(refusal, (msgspec.ValidationError, _Refused)):  # (a ValidationError is a DecodeError too)
        raise ValueError(str(refusal))
    raise ValueError(f"not JSON: {refusal}")


def _rows(value: bytes, message: _WireMessage, tz: tzinfo) -> tuple[EventRow, ...]:
    """The rows of a message msgspec has decoded, with the checks it cannot make."""
    if not value.isascii():
        try:
            value.decode()  # msgspec does not check the UTF-8 of what it passes over
        except UnicodeDecodeError as exc:
            raise _Refused(f"not JSON: {exc}") from None
    subject, unit_set, app_id = message.subject, message.unit_set, message.app_id
    platform, app_version = message.platform, message.app_version
    received_at = _aware_time(message.received_at)
    rows = []
    for event in message.events:
        name = _valid_event_name(event.event)
        unit_code = None if event.unit_code is None else _valid_code(event.unit_code)
        named_set = None if event.unit_set is None else _valid_code(event.unit_set)
        if name is None or (unit_code is None and event.unit_code is not None):
            raise _Refused("event or unit_code: not an event name or a code")
        if named_set is None and event.unit_set is not None:
            raise _Refused("unit_set: expected a code")
        if event.properties == _NO_PROPERTIES:  # absent or {}, the usual
            properties = _EMPTY_OBJECT
        elif not (properties := bytes(event.properties)).startswith(b"{"):  # a copy: a Raw keeps the whole message
            raise _Refused("properties: expected an object")  # (a Raw starts at its value's first character)
        elif len(properties) > _SHALLOW_PROPERTIES_BYTES:
            try:
                from_json(value)
            except ValueError as exc:
                raise _Refused(f"not JSON: {exc}") from None
        event_time = _aware_time(event.event_time)
        rows.append(
            _new_row(
                EventRow,
                (
                    event_time,
                    event.event_id,
                    name,
                    subject,
                    (named_set or unit_set) if unit_code is not None else None,
                    unit_code,
                    event.session_id,
                    app_id,
                    platform,
                    app_version,
                    properties,
                    received_at,
                    event.background,
                    local_day(event_time, tz),
                ),
            )
        )
    return tuple(rows)


def local_day(event_time: datetime, tz: tzinfo) -> date:
    """The calendar day of `event_time` in PULSE_TIMEZONE (SPEC §8). A time whose local day is outside years
    1–9999 is refused by name (Python's OverflowError would escape the consumer's dead-letter path)."""
    try:
        return event_time.astimezone(tz).date()
    except OverflowError:
        raise _Refused("event_time: its local day is outside years 1 to 9999") from None


def _aware_time(text: str) -> datetime:
    """`parse_rfc3339` of a string, without its words."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(f"expected an RFC 3339 timestamp: {text!r}") from None
    if parsed.tzinfo is None:  # fromisoformat's tzinfo, when there is one, is a fixed offset
        raise _Refused(f"timestamp needs an offset: {text!r}")
    return parsed


# --- the checks in Python, which word the reasons ---------------------------------------------------------


def decode_by_hand(value: bytes | None, *, tz: tzinfo) -> tuple[EventRow, ...]:
    """`process_message` field by field in Python: slow, but the one place that words why a message is refused
    (`events[3].event_id: expected a UUID`)."""
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
        properties=to_json(properties),
        received_at=received_at,
        background=background,
        day=local_day(event_time, tz),
    )
