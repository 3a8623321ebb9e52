"""The app-event processor (pure): a collector message in, a row out; anything else is a poison message."""

import json
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.ingest.app_events import process_event

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SUBJECT = "ab" * 32


def message(**changes) -> bytes:
    m = {
        "v": 1,
        "event_id": str(uuid.UUID(int=1)),
        "event": "app_open",
        "subject": SUBJECT,
        "anonymous": False,
        "unit_set": "2024",
        "unit_code": "15865",
        "session_id": "s1",
        "event_time": "2024-03-31T17:30:00Z",
        "created_at": "2024-04-01T00:30:00+07:00",
        "received_at": "2024-03-31T17:30:05Z",
        "properties": {"cold_start": True},
        "known": True,
        "background": False,
        "app_id": 3,
        "platform": "android",
        "app_version": "2.3.1",
        "os_version": "14",
        "locale": "vi-VN",
    }
    m.update(changes)
    return json.dumps({k: v for k, v in m.items() if v is not ...}).encode()


def test_a_collector_message_becomes_a_row_with_its_local_day() -> None:
    row = process_event(message(), tz=TZ)
    assert row.event_time == datetime(2024, 3, 31, 17, 30, tzinfo=UTC)
    assert row.day == date(2024, 4, 1)  # 00:30 on 1 April in Hanoi time
    assert (row.subject, row.unit_set, row.unit_code, row.app_id) == (SUBJECT, "2024", "15865", 3)
    assert json.loads(row.properties) == {"cold_start": True}
    assert row.background is False


def test_an_event_without_a_unit_has_no_unit_set() -> None:
    row = process_event(message(unit_code=None), tz=TZ)
    assert (row.unit_set, row.unit_code) == (None, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"\xff{", "not JSON"),
        (b"[1]", "not an app event"),
        (message(v=2), "not an app event"),
        (message(event_id="nope"), "event_id"),
        (message(event="Bad Name"), "event:"),
        (message(subject="user-42"), "subject: expected a pseudonym"),  # a raw id must never be stored
        (message(subject=None), "subject"),
        (message(unit_code="15 865"), "unit_code"),
        (message(app_id="3"), "app_id"),
        (message(app_id=True), "app_id"),
        (message(properties=[1]), "properties"),
        (message(background="no"), "background"),
        (message(event_time="yesterday"), "event_time"),
        (message(received_at=...), "received_at"),
        (message(session_id="x" * 65), "session_id"),
    ],
)
def test_poison_messages_are_refused_with_a_reason(value, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        process_event(value, tz=TZ)
