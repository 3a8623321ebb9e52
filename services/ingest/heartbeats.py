"""The heartbeat processor: a Kafka message's bytes in, a row for the database out. Pure (no Kafka, no SQL).

Bad messages raise `InvalidMessage`; the consumer adapter sends them to the dead-letter topic with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from services.core.heartbeats import InvalidMessage, KeepAlive, Metrics, Quality, decode_wire
from services.core.uptime import QUALITY_FLAGS, State, state_of

__all__ = ["HeartbeatRow", "InvalidMessage", "KeepAlive", "process_message"]


class HeartbeatRow(NamedTuple):
    """One heartbeat as ingest writes it (a tuple: ingest makes 100,000s of these a second)."""

    camera_id: str
    ts: datetime
    status: str
    state: State
    seq: int | None
    metrics: Metrics | None
    quality: Quality | None
    gateway_id: int
    unit_set: str
    unit_code: str
    received_at: datetime


def process_message(value: bytes | None) -> HeartbeatRow | KeepAlive:
    wire = decode_wire(value)
    if wire["kind"] != "heartbeat":
        return KeepAlive(wire["gateway_id"], wire["ts"], wire["received_at"])
    quality = wire.get("quality")
    # A field sent as null reads as absent everywhere (`->>` in SQL, `.get` here): no need to strip them.
    flagged = quality is not None and any(map(quality.get, QUALITY_FLAGS))
    return HeartbeatRow(
        camera_id=wire["camera_id"],
        ts=wire["ts"],
        status=wire["status"],
        state=state_of(wire["status"], flagged=flagged),
        seq=wire.get("seq"),
        metrics=wire.get("metrics"),
        quality=quality,
        gateway_id=wire["gateway_id"],
        unit_set=wire["unit_set"],
        unit_code=wire["unit_code"],
        received_at=wire["received_at"],
    )
