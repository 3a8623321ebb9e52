"""The heartbeat processor: a Kafka message's bytes in, a row for the database out. Pure (no Kafka, no SQL).

Bad messages raise `InvalidMessage`; the consumer adapter sends them to the dead-letter topic with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from services.core.heartbeats import InvalidMessage, KeepAlive, WireHeartbeat, decode_wire
from services.core.uptime import QUALITY_FLAGS, State, state_of

__all__ = ["HeartbeatRow", "InvalidMessage", "KeepAlive", "process_message"]


class HeartbeatRow(NamedTuple):
    """One row for the staging table, in its column order (a tuple: ingest makes 100,000s of these a second)."""

    camera_id: str
    ts: datetime
    status: str
    state: State
    seq: int | None
    metrics: str | None  # JSON text, for COPY into jsonb
    quality: str | None
    gateway_id: int
    unit_set: str
    unit_code: str
    received_at: datetime


def process_message(value: bytes | None) -> HeartbeatRow | KeepAlive:
    wire = decode_wire(value)
    if not isinstance(wire, WireHeartbeat):
        return KeepAlive(wire.gateway_id, wire.ts, wire.received_at)
    quality = wire.quality
    flagged = quality is not None and any(getattr(quality, flag) for flag in QUALITY_FLAGS)
    return HeartbeatRow(
        camera_id=wire.camera_id,
        ts=wire.ts,
        status=wire.status,
        state=state_of(wire.status, flagged=flagged),
        seq=wire.seq,
        metrics=wire.metrics.model_dump_json(exclude_none=True) if wire.metrics is not None else None,
        quality=quality.model_dump_json(exclude_none=True) if quality is not None else None,
        gateway_id=wire.gateway_id,
        unit_set=wire.unit_set,
        unit_code=wire.unit_code,
        received_at=wire.received_at,
    )
