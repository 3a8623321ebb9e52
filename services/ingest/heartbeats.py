"""The heartbeat processor: a Kafka message's bytes in, a row for the database out. Pure (no Kafka, no SQL).

Bad messages raise `InvalidMessage`; the consumer adapter sends them to the dead-letter topic with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from services.core.heartbeats import HeartbeatMessage, InvalidMessage, KeepAlive, from_message
from services.core.uptime import State, beat_state

__all__ = ["HeartbeatRow", "InvalidMessage", "KeepAlive", "process_message"]


@dataclass(frozen=True)
class HeartbeatRow:
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

    def as_tuple(self) -> tuple:
        return (
            self.camera_id,
            self.ts,
            self.status,
            self.state,
            self.seq,
            self.metrics,
            self.quality,
            self.gateway_id,
            self.unit_set,
            self.unit_code,
            self.received_at,
        )


def process_message(value: bytes | None) -> HeartbeatRow | KeepAlive:
    message = from_message(value)
    if isinstance(message, KeepAlive):
        return message
    return _row(message)


def _row(message: HeartbeatMessage) -> HeartbeatRow:
    item, delivery = message.item, message.delivery
    quality = item.quality.model_dump(exclude_none=True) if item.quality else None
    metrics = item.metrics.model_dump(exclude_none=True) if item.metrics else None
    return HeartbeatRow(
        camera_id=item.camera_id,
        ts=item.ts,
        status=item.status,
        state=beat_state(item.status, quality),
        seq=item.seq,
        metrics=json.dumps(metrics) if metrics is not None else None,
        quality=json.dumps(quality) if quality is not None else None,
        gateway_id=delivery.gateway_id,
        unit_set=delivery.unit_set,
        unit_code=delivery.unit_code,
        received_at=delivery.received_at,
    )
