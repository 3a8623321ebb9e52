"""The heartbeat processor: a Kafka message's bytes in, rows for the database out. Pure (no Kafka, no SQL).

A message that cannot be used at all raises `InvalidMessage`; the consumer sends it to the dead-letter topic with
the reason. In a version-2 message (a chunk of heartbeats) a bad item is set aside alone, named by its index, and
the consumer dead-letters it while the rest of the message is stored.
"""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from typing import NamedTuple

import msgspec

from services.core.heartbeats import (
    InvalidMessage,
    KeepAlive,
    WireHeartbeats,
    WireHeartbeatsChecked,
    WireHeartbeatV1,
    WireItem,
    decode_item,
    decode_wire,
)
from services.core.uptime import QUALITY_FLAGS, State, state_of

__all__ = ["HeartbeatMessage", "HeartbeatRow", "InvalidMessage", "KeepAlive", "process_message"]


class HeartbeatRow(NamedTuple):
    """One heartbeat as ingest writes it (a tuple: ingest makes 100,000s of these a second)."""

    camera_id: str
    ts: datetime
    status: str
    state: State
    seq: int | None
    # The readings as the JSON they are stored as (without the fields left out): written once by msgspec and
    # handed to COPY as they are, not turned into dicts and back for every heartbeat.
    metrics: bytes | None
    quality: bytes | None
    gateway_id: int
    unit_set: str
    unit_code: str
    received_at: datetime


class HeartbeatMessage(NamedTuple):
    """What one message holds: its rows (heartbeats and keep-alives), and the items set aside with why."""

    rows: tuple[HeartbeatRow | KeepAlive, ...]
    rejected: tuple[str, ...] = ()


_JSON = msgspec.json.Encoder()
_FLAGS = attrgetter(*QUALITY_FLAGS)  # a tuple of the flags' values, read in C (this runs for every heartbeat)


def _row(item: WireItem, gateway_id: int, unit_set: str, unit_code: str, received_at: datetime) -> HeartbeatRow:
    quality = item.quality
    flagged = quality is not None and any(_FLAGS(quality))
    metrics = item.metrics
    return HeartbeatRow(  # positional: a third of the cost of keywords, for every heartbeat
        item.camera_id,
        item.ts,
        item.status,
        state_of(item.status, flagged=flagged),
        item.seq,
        _JSON.encode(metrics) if metrics is not None else None,
        _JSON.encode(quality) if quality is not None else None,
        gateway_id,
        unit_set,
        unit_code,
        received_at,
    )


def process_message(value: bytes | None) -> HeartbeatMessage:
    wire = decode_wire(value)
    if isinstance(wire, WireHeartbeatsChecked):
        g, s, c, r = wire.gateway_id, wire.unit_set, wire.unit_code, wire.received_at
        return HeartbeatMessage(tuple([_row(item, g, s, c, r) for item in wire.items]))
    if isinstance(wire, WireHeartbeats):
        rows: list[HeartbeatRow | KeepAlive] = []
        rejected: list[str] = []
        for index, raw in enumerate(wire.items):
            try:
                item = decode_item(raw)
            except InvalidMessage as exc:
                rejected.append(f"items[{index}]: {exc}")
                continue
            rows.append(_row(item, wire.gateway_id, wire.unit_set, wire.unit_code, wire.received_at))
        return HeartbeatMessage(tuple(rows), tuple(rejected))
    if isinstance(wire, WireHeartbeatV1):
        return HeartbeatMessage((_row(wire, wire.gateway_id, wire.unit_set, wire.unit_code, wire.received_at),))
    return HeartbeatMessage((KeepAlive(wire.gateway_id, wire.ts, wire.received_at),))
