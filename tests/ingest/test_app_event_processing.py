"""The app-event processor (pure): a collector message (one subject's events) in, rows out; anything else is a
poison message, refused whole."""

import json
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.ingest.app_events import process_message

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SUBJECT = "ab" * 32


def event(**changes) -> dict:
    e = {
        "event_id": str(uuid.UUID(int=1)),
        "event": "app_open",
        "unit_code": "15865",
        "session_id": "s1",
        "event_time": "2024-03-31T17:30:00Z",
        "created_at": "2024-04-01T00:30:00+07:00",
        "properties": {"cold_start": True},
        "known": True,
        "background": False,
    }
    e.update(changes)
    return {k: v for k, v in e.items() if v is not ...}


def message(events: list[dict] | None = None, **changes) -> bytes:
    m = {
        "v": 2,
        "subject": SUBJECT,
        "anonymous": False,
        "unit_set": "2024",
        "received_at": "2024-03-31T17:30:05Z",
        "app_id": 3,
        "platform": "android",
        "app_version": "2.3.1",
        "os_version": "14",
        "locale": "vi-VN",
        "events": [event()] if events is None else events,
    }
    m.update(changes)
    return json.dumps({k: v for k, v in m.items() if v is not ...}).encode()


def test_a_collector_message_becomes_rows_with_their_local_day() -> None:
    first, second = process_message(message([event(), event(event_id=str(uuid.UUID(int=2)), unit_code=None)]), tz=TZ)
    assert first.event_time == datetime(2024, 3, 31, 17, 30, tzinfo=UTC)
    assert first.day == date(2024, 4, 1)  # 00:30 on 1 April in Hanoi time
    assert (first.subject, first.unit_set, first.unit_code, first.app_id) == (SUBJECT, "2024", "15865", 3)
    assert json.loads(first.properties) == {"cold_start": True}
    assert first.background is False
    assert (second.subject, second.unit_set, second.unit_code) == (SUBJECT, None, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"\xff{", "not JSON"),
        (b"[1]", "not an app-events message"),
        (message(v=1), "not an app-events message"),
        (message(subject="user-42"), "subject: expected a pseudonym"),  # a raw id must never be stored
        (message(subject=...), "subject"),
        (message(unit_set="20 24"), "unit_set"),
        (message(app_id="3"), "app_id"),
        (message(app_id=True), "app_id"),
        (message(received_at=...), "received_at"),
        (message([]), "events"),
        (message(events=...), "events"),
        (message([1]), r"events\[0\]: expected an object"),
        (message([event(), event(event_id="nope")]), r"events\[1\]\.event_id"),
        (message([event(event="Bad Name")]), r"events\[0\]\.event:"),
        (message([event(unit_code="15 865")]), "unit_code"),
        (message([event(properties=[1])]), "properties"),
        (message([event(background="no")]), "background"),
        (message([event(event_time="yesterday")]), "event_time"),
        # no local day in Asia/Ho_Chi_Minh: refused by name, not an OverflowError past the dead-letter path
        (message([event(), event(event_time="9999-12-31T23:59:59-03:30")]), r"events\[1\]\.event_time: its local day"),
        (message([event(session_id="x" * 65)]), "session_id"),
    ],
)
def test_poison_messages_are_refused_with_a_reason(value, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        process_message(value, tz=TZ)


def test_properties_are_the_json_text_of_an_object_as_received() -> None:
    with_properties, without = process_message(message([event(), event(properties=...)]), tz=TZ)
    assert isinstance(with_properties.properties, bytes)
    assert json.loads(with_properties.properties) == {"cold_start": True}
    assert without.properties == b"{}"


@pytest.mark.parametrize(
    "event_time",
    ["2024-03-31T17:30:00Z", "2024-03-31T17:30:00+00:00", "2024-03-31 17:30:00+00", "2024-03-31T17:30:00.0000009Z"],
)
def test_times_are_read_as_they_always_were(event_time) -> None:
    """`datetime.fromisoformat`, as `parse_rfc3339` does, not msgspec's RFC 3339: the same instant each time."""
    (row,) = process_message(message([event(event_time=event_time)]), tz=TZ)
    assert row.event_time == datetime(2024, 3, 31, 17, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (message([event(event_time="2024-03-31T17:30:00z")]), "events[0].event_time: expected an RFC 3339 timestamp"),
        (message([event(event_time="2024-03-31T17:30:00")]), "events[0].event_time: timestamp needs an offset"),
        # msgspec passes over unknown fields and raw properties without checking their UTF-8 or their depth
        (message(locale="vi-\udcff"), "not JSON: invalid unicode code point"),
        (message([event(properties={"p": "RAW"})]), "not JSON: recursion limit exceeded"),
    ],
)
def test_what_msgspec_does_not_check_is_refused_as_before(value, reason) -> None:
    value = value.replace(b'"vi-\\udcff"', b'"vi-\xff"').replace(b'"RAW"', b"[" * 198 + b"]" * 198)
    with pytest.raises(ValueError) as refused:
        process_message(value, tz=TZ)
    assert str(refused.value).startswith(reason)


def test_properties_nested_as_deep_as_before_are_taken() -> None:
    value = message([event(properties={"p": "RAW"})]).replace(b'"RAW"', b"[" * 197 + b"]" * 197)
    (row,) = process_message(value, tz=TZ)
    assert row.properties.startswith(b'{"p": [[[')


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            message([event(event_id="{00000000-0000-0000-0000-000000000001}")]),
            "Invalid UUID - at `$.events[0].event_id`",
        ),
        (message([event(event_id="0000000000000000-0000-0000-00000001")]), "Invalid UUID - at `$.events[0].event_id`"),
        (message([event(properties={"x": "NAN"})]).replace(b'"NAN"', b"NaN"), "not JSON: JSON is malformed"),
        (message().replace(b'{"v": 2', b'{"v": 1, "v": 2'), "Expected `float` >= 2.0 - at `$.v`"),
    ],
)
def test_the_few_things_only_the_old_checks_took_are_refused_in_msgspecs_words(value, reason) -> None:
    """A UUID spelt other than 8-4-4-4-12 (or 32 hex digits), NaN or Infinity (not JSON, and not storable in jsonb),
    a key given twice whose first value is wrong: `uuid.UUID` and pydantic-core took them, msgspec does not."""
    with pytest.raises(ValueError) as refused:
        process_message(value, tz=TZ)
    assert str(refused.value).startswith(reason)
