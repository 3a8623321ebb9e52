"""SPEC §7 checks on hand-made app events: envelope, per-event reasons, clock correction, privacy."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app_events import registry
from app_events.validation import (
    CheckedEvent,
    EnvelopeError,
    check_envelope,
    check_event,
    event_time,
    pseudonym,
    too_late,
)

NOW = datetime(2024, 3, 27, 0, 0, 5, tzinfo=UTC)


def envelope(**overrides) -> dict:
    body = {
        "sent_at": "2024-03-27T07:00:05+07:00",
        "context": {
            "install_id": str(uuid.uuid4()),
            "platform": "android",
            "app_version": "2.3.1",
            "os_version": "14",
            "locale": "vi-VN",
        },
        "events": [event()],
    }
    body.update(overrides)
    return body


def event(**overrides) -> dict:
    e = {
        "event_id": str(uuid.uuid4()),
        "event": "feedback_submitted",
        "created_at": "2024-03-27T06:59:10+07:00",
        "user_id": "citizen-42",
        "unit_code": "15865",
        "session_id": str(uuid.uuid4()),
        "properties": {"category": "road_damage"},
    }
    e.update(overrides)
    return e


def test_a_good_envelope_and_event_pass() -> None:
    env = check_envelope(envelope())
    assert env.platform == "android" and env.sent_at == NOW
    checked = check_event(env.events[0])
    assert isinstance(checked, CheckedEvent) and checked.known and not checked.background


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        (envelope(context="x"), "context"),
        (
            envelope(context={"install_id": "not-a-uuid", "platform": "android", "app_version": "1"}),
            "context.install_id",
        ),
        (
            envelope(context={"install_id": str(uuid.uuid4()), "platform": "symbian", "app_version": "1"}),
            "context.platform",
        ),
        (envelope(events=[]), "events"),
        (envelope(events=[event()] * 501), "events"),
    ],
)
def test_a_bad_envelope_fails_whole_naming_the_field(body, field: str) -> None:
    with pytest.raises(EnvelopeError, match=f"^{field}:"):
        check_envelope(body)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("x", "invalid: event: expected a JSON object"),
        (event(event_id="42"), "invalid: event_id: expected a UUID"),
        (event(event="Feedback-Submitted"), "invalid: event: expected a name"),
        (event(created_at="yesterday"), "invalid: created_at:"),
        (event(user_id=""), "invalid: user_id:"),
        (event(unit_code="15 865"), "invalid: unit_code:"),
        (event(unit_set="2025/07"), "invalid: unit_set:"),
        (event(unit_set=2025), "invalid: unit_set:"),
        (event(properties=[1]), "invalid: properties: expected an object"),
        (event(properties={f"p{i}": i for i in range(31)}, event="custom_thing"), "invalid: properties: at most 30"),
        (event(properties={"category": "road_damage", "note": "x" * 2001}), "invalid: properties.note: value over"),
        (event(properties={"category": "potholes"}), "invalid: properties.category:"),
        (event(properties={}), "invalid: properties: must contain ['category'] properties"),
    ],
)
def test_each_bad_event_is_rejected_alone_with_its_reason(raw, reason: str) -> None:
    result = check_event(raw)
    assert isinstance(result, str) and result.startswith(reason), result


def test_an_unknown_well_formed_event_is_accepted_and_marked() -> None:
    checked = check_event(event(event="tax_lookup", properties={"year": 2024}))
    assert isinstance(checked, CheckedEvent) and not checked.known and not checked.background


def test_background_events_are_flagged() -> None:
    assert registry.is_background("push_received") and not registry.is_background("push_opened")


def test_a_device_clock_two_hours_wrong_is_corrected() -> None:
    # the phone thinks it is 09:00 when it is 07:00; it made the event 55 s before sending
    sent_at = NOW + timedelta(hours=2)
    created_at = sent_at - timedelta(seconds=55)
    assert event_time(received_at=NOW, sent_at=sent_at, created_at=created_at) == NOW - timedelta(seconds=55)


def test_event_time_falls_back_to_received_at() -> None:
    assert event_time(received_at=NOW, sent_at=None, created_at=NOW - timedelta(days=1)) == NOW
    # created "24 h after it was sent": more than 23 h ahead of received_at
    sent = NOW
    assert event_time(received_at=NOW, sent_at=sent, created_at=sent + timedelta(hours=24)) == NOW
    assert event_time(received_at=NOW, sent_at=sent, created_at=sent + timedelta(hours=22)) == NOW + timedelta(hours=22)


def test_an_event_eight_days_late_is_too_late() -> None:
    assert too_late(received_at=NOW, at=NOW - timedelta(days=8))
    assert not too_late(received_at=NOW, at=NOW - timedelta(days=6, hours=23))


def test_the_pseudonym_is_a_keyed_hash_that_hides_the_id() -> None:
    a = pseudonym(b"key-1", "citizen-42")
    assert a == pseudonym(b"key-1", "citizen-42") and len(a) == 64 and "citizen" not in a
    assert a != pseudonym(b"key-2", "citizen-42") and a != pseudonym(b"key-1", "citizen-43")


def test_docs_events_md_is_generated_from_the_registry() -> None:
    from pathlib import Path

    from app_events.docgen import render

    doc = Path(__file__).resolve().parents[2] / "docs" / "events.md"
    assert doc.read_text(encoding="utf-8") == render(), "run: python -m app_events.docgen > docs/events.md"


def test_the_collector_refuses_to_start_without_a_pseudonym_key(monkeypatch) -> None:
    from app_events.app import create_app
    from services.core.settings import ConfigError, load_settings

    monkeypatch.delenv("PULSE_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"^configuration error: PULSE_PSEUDONYM_KEY: required"):
        create_app(load_settings())
