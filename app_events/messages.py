"""The collector's Kafka message (format v2): one message per subject (pseudonymized citizen or install) and
request, keyed and partitioned by the subject. One home for the format: the collector writes it, the demo's
backfill writes history in it, ingest reads it (`services/ingest/app_events.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_json

from app_events.validation import CheckedEvent

VERSION = 2


def event_record(checked: CheckedEvent, when: datetime) -> dict[str, Any]:
    """One accepted event as the message carries it; `when` is its time with the device clock corrected."""
    return {
        "event_id": str(checked.event_id),
        "event": checked.event,
        "unit_code": checked.unit_code,
        **({"unit_set": checked.unit_set} if checked.unit_set else {}),  # else the message's (PULSE_UNIT_SET)
        "session_id": checked.session_id,
        "event_time": when,
        "created_at": checked.created_at,
        "properties": checked.properties,
        "known": checked.known,
        "background": checked.background,
    }


def subject_message(
    *,
    subject: str,
    install_subject: str,
    unit_set: str,
    received_at: datetime,
    context: dict[str, Any],
    events: list[dict[str, Any]],
) -> bytes:
    return to_json(
        {
            "v": VERSION,
            "subject": subject,
            "anonymous": subject == install_subject,
            "unit_set": unit_set,
            "received_at": received_at,
            **context,
            "events": events,
        }
    )


def subject_partition(subject: bytes, partitions: list[int]) -> int:
    """The partition of a subject's events. The subject is already a uniform hash (HMAC hex), so its first 32
    bits pick the partition; aiokafka's murmur2 of the key, in pure Python, cost a tenth of the collector's CPU.
    One subject → one partition, so one ingest consumer owns all of a subject's activity rows."""
    return partitions[int(subject[:8], 16) % len(partitions)]
