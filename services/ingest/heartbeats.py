"""The heartbeat processor: a Kafka message's bytes in, rows for the database out. Pure (no Kafka, no SQL).

A message that cannot be used at all raises `InvalidMessage`; the consumer sends it to the dead-letter topic with
the reason. In a version-2 message (a chunk of heartbeats) a bad item is set aside alone, named by its index, and
the consumer dead-letters it while the rest of the message is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter
from typing import NamedTuple

import msgspec

from services.core.heartbeats import (
    STATUSES,
    InvalidMessage,
    KeepAlive,
    WireHeartbeats,
    WireHeartbeatsChecked,
    WireHeartbeatV1,
    WireItem,
    WireItemIdUnchecked,
    decode_item,
    decode_wire,
)
from services.core.uptime import QUALITY_FLAGS, State, state_of

__all__ = ["JSONB_VERSION", "HeartbeatMessage", "HeartbeatRow", "InvalidMessage", "KeepAlive", "process_message"]


class HeartbeatRow(NamedTuple):
    """One heartbeat as ingest writes it (a tuple: ingest makes 100,000s of these a second)."""

    camera_id: str
    ts: datetime
    status: str
    state: State
    seq: int | None
    # The readings as they are stored: jsonb's binary form (JSONB_VERSION, then the JSON without the fields left
    # out), written once by msgspec and handed to COPY as they are.
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
JSONB_VERSION = b"\x01"  # the first byte of a jsonb value in binary form; the JSON text follows
_FLAGS = attrgetter(*QUALITY_FLAGS)  # a tuple of the flags' values, read in C (this runs for every heartbeat)
# SPEC §5's state of every (status, flagged) pair, from `state_of` (its one home), looked up per heartbeat.
_STATES = {(status, flagged): state_of(status, flagged=flagged) for status in STATUSES for flagged in (False, True)}
_new_row = tuple.__new__  # HeartbeatRow's own constructor is a Python function around this call


def _rows(
    items: Iterable[WireItemIdUnchecked], gateway_id: int, unit_set: str, unit_code: str, received_at: datetime
) -> list:
    """The rows of items delivered together. Hundreds of thousands a second: one comprehension, no call per row
    but msgspec's encoding of the readings (stored as the JSON they arrived as, minus absent fields, in jsonb's
    binary form)."""
    encode, flags, states, jsonb = _JSON.encode, _FLAGS, _STATES, JSONB_VERSION
    return [
        _new_row(
            HeartbeatRow,
            (
                item.camera_id,
                item.ts,
                item.status,
                states[item.status, item.quality is not None and any(flags(item.quality))],
                item.seq,
                None if item.metrics is None else jsonb + encode(item.metrics),
                None if item.quality is None else jsonb + encode(item.quality),
                gateway_id,
                unit_set,
                unit_code,
                received_at,
            ),
        )
        for item in items
    ]


def process_message(value: bytes | None) -> HeartbeatMessage:
    wire = decode_wire(value)
    if isinstance(wire, WireHeartbeatsChecked | WireHeartbeats):
        items, rejected = (wire.items, []) if isinstance(wire, WireHeartbeatsChecked) else _each_item(wire.items)
        rows = _rows(items, wire.gateway_id, wire.unit_set, wire.unit_code, wire.received_at)
        return HeartbeatMessage(tuple(rows), tuple(rejected))
    if isinstance(wire, WireHeartbeatV1):
        return HeartbeatMessage(tuple(_rows([wire], wire.gateway_id, wire.unit_set, wire.unit_code, wire.received_at)))
    return HeartbeatMessage((KeepAlive(wire.gateway_id, wire.ts, wire.received_at),))


def _each_item(raws: list[msgspec.Raw]) -> tuple[list[WireItem], list[str]]:
    """A message's items one by one (one of them is bad): the good ones, and why each bad one is refused."""
    good: list[WireItem] = []
    rejected: list[str] = []
    for index, raw in enumerate(raws):
        try:
            good.append(decode_item(raw))
        except InvalidMessage as exc:
            rejected.append(f"items[{index}]: {exc}")
    return good, rejected
