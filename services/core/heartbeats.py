"""A camera heartbeat, from the HTTP item (SPEC §4) to the Kafka message that ingest reads. Pure.

The gateway validates each pushed item with `validate_item` (a rejection names the field and why), adds who
delivered it, and produces `to_message`; ingest decodes the same bytes with `decode_wire`, which validates
again because a topic can hold anything. Keep-alives of a gateway travel on the same topic, so the watermark
(SPEC §5) only moves with what has really come through the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, with_config
from pydantic_core import to_json
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

CAMERA_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
CAMERA_ID = re.compile(CAMERA_ID_PATTERN)
MAX_AHEAD = timedelta(minutes=2)
MAX_AGE = timedelta(days=7)
WIRE_VERSION: Final = 2


def parse_rfc3339(value: Any) -> datetime:
    """An RFC 3339 timestamp with an offset (or Z); naive or non-string values are refused."""
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("expected an RFC 3339 timestamp such as 2024-03-27T07:00:05+07:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("timestamp needs an offset (Z or ±hh:mm)")
    return parsed


Status = Literal["ok", "degraded", "down"]  # what a camera reports (SPEC §4)
STATUSES: tuple[str, ...] = get_args(Status)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Metrics and quality are plain dicts (TypedDicts validated by pydantic-core): ingest decodes one per message,
# and building model instances cost twice the whole rest of the decoding.
@with_config(ConfigDict(extra="forbid"))
class Metrics(TypedDict, total=False):
    fps: Annotated[float, Field(ge=0, le=1000)] | None
    bitrate_kbps: Annotated[float, Field(ge=0)] | None
    rtt_ms: Annotated[float, Field(ge=0)] | None
    uptime_s: Annotated[float, Field(ge=0)] | None
    recording: StrictBool | None
    storage_ok: StrictBool | None
    temperature_c: Annotated[float, Field(ge=-80, le=200)] | None


@with_config(ConfigDict(extra="forbid"))
class Quality(TypedDict, total=False):
    blur: Annotated[float, Field(ge=0)] | None
    brightness: Annotated[float, Field(ge=0, le=255)] | None
    black: StrictBool | None
    frozen: StrictBool | None
    obstructed: StrictBool | None
    noise: Annotated[float, Field(ge=0)] | None


def without_none(values: Metrics | Quality | None) -> dict[str, Any] | None:
    """What a reading holds (a field sent as null is the same as a field left out)."""
    return None if values is None else {k: v for k, v in values.items() if v is not None}


class HeartbeatItem(_Strict):
    camera_id: str = Field(pattern=CAMERA_ID_PATTERN)
    ts: datetime
    status: Status = "ok"
    seq: int | None = Field(default=None, ge=0, strict=True)
    metrics: Metrics | None = None
    quality: Quality | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> datetime:
        if isinstance(value, datetime) and value.utcoffset() is not None:
            return value  # built in Python (tests, benchmarks); JSON always brings a string
        return parse_rfc3339(value)


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str


def describe(error: ValidationError) -> str:
    """One line naming the field: `invalid: metrics.fps: Input should be greater than or equal to 0`."""
    return describe_error(error.errors()[0])


def describe_error(first: Any) -> str:
    field = ".".join(str(p) for p in first["loc"]) or "item"
    if first["type"] == "extra_forbidden":
        return f"unknown_field: {field}"
    if first["type"] == "missing":
        return f"invalid: {field}: required"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"invalid: {field}: {message}"


# --- the Kafka message --------------------------------------------------------------------------------
#
# Version 2 (issue 19): one message per accepted request chunk — a gateway's heartbeats with who delivered them
# once — keyed by the gateway, so that a gateway's heartbeats and its keep-alives share a partition and arrive in
# the order it accepted them (the watermark never overtakes the heartbeats it vouches for), and one ingest
# consumer owns each camera. Version 1 (one heartbeat a message, keyed by camera) is still read: an upgrade with
# messages in the topic loses nothing. Both are decoded and validated by msgspec (C), item by item, so a bad
# item is named and set aside without the rest of its message.


@dataclass(frozen=True)
class Delivery:
    """Who delivered a heartbeat, and when: added by the gateway."""

    gateway_id: int
    unit_set: str  # the gateway's unit an unknown camera is registered under
    unit_code: str
    received_at: datetime


def message_key(gateway_id: int) -> bytes:
    """The key of every message a gateway produces (heartbeats and keep-alives alike)."""
    return f"gateway:{gateway_id}".encode()


# Heartbeats per Kafka message: a request of up to 1,000 goes out as at most two messages, each well under the
# broker's 1 MB default (a heartbeat with every metric and quality field is ≈ 400 bytes of JSON).
CHUNK = 500


def to_messages(items: Sequence[WireItem], delivery: Delivery) -> list[bytes]:
    """Accepted heartbeats as version-2 messages of at most CHUNK each (all keyed `message_key(gateway)`)."""
    return [to_message(items[i : i + CHUNK], delivery) for i in range(0, len(items), CHUNK)]


def to_message(items: Sequence[WireItem], delivery: Delivery) -> bytes:
    """One version-2 message for a chunk of accepted items, written by msgspec (RFC 3339 times, absent fields out)."""
    return _ENCODER.encode(
        WireHeartbeatsChecked(
            WIRE_VERSION, delivery.gateway_id, delivery.unit_set, delivery.unit_code, delivery.received_at, list(items)
        )
    )


def keepalive_message(*, gateway_id: int, ts: datetime, received_at: datetime) -> bytes:
    body = {"v": WIRE_VERSION, "kind": "keepalive", "gateway_id": gateway_id, "ts": ts, "received_at": received_at}
    return to_json(body)


class InvalidMessage(ValueError):
    """A message ingest cannot use; the reason goes to the dead-letter topic."""


# The wire's own types, mirroring the HTTP item's constraints (a test checks both accept and refuse the same).
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
_Code = Annotated[str, msgspec.Meta(max_length=32)]


class WireMetrics(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    fps: Annotated[float, msgspec.Meta(ge=0, le=1000)] | None = None
    bitrate_kbps: Annotated[float, msgspec.Meta(ge=0)] | None = None
    rtt_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None
    uptime_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    recording: bool | None = None
    storage_ok: bool | None = None
    temperature_c: Annotated[float, msgspec.Meta(ge=-80, le=200)] | None = None


class WireQuality(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    blur: Annotated[float, msgspec.Meta(ge=0)] | None = None
    brightness: Annotated[float, msgspec.Meta(ge=0, le=255)] | None = None
    black: bool | None = None
    frozen: bool | None = None
    obstructed: bool | None = None
    noise: Annotated[float, msgspec.Meta(ge=0)] | None = None


class WireItemIdUnchecked(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An item but for its camera id's pattern, which `decode_wire` checks once per id it has not seen: the regex,
    run by msgspec for every item, was half of decoding a message (0.35 of 0.66 µs an item)."""

    camera_id: str
    ts: AwareTime
    status: Status = "ok"
    seq: Annotated[int, msgspec.Meta(ge=0)] | None = None
    metrics: WireMetrics | None = None
    quality: WireQuality | None = None


class WireItem(WireItemIdUnchecked, forbid_unknown_fields=True, omit_defaults=True):
    camera_id: Annotated[str, msgspec.Meta(pattern=CAMERA_ID_PATTERN)]


class WireHeartbeatV1(WireItem, tag_field="kind", tag="heartbeat", forbid_unknown_fields=True, kw_only=True):
    v: Literal[1]
    gateway_id: int
    unit_set: _Code
    unit_code: _Code
    received_at: AwareTime


class WireHeartbeats(msgspec.Struct, tag_field="kind", tag="heartbeats", forbid_unknown_fields=True):
    v: Literal[2]
    gateway_id: int
    unit_set: _Code
    unit_code: _Code
    received_at: AwareTime
    items: list[msgspec.Raw]  # decoded one by one: a bad item is named and set aside alone


class WireHeartbeatsChecked(msgspec.Struct, tag_field="kind", tag="heartbeats", forbid_unknown_fields=True):
    """The same message as `WireHeartbeats` with its items decoded in the same call: what the gateway writes, and
    what ingest reads first (one C call for the whole chunk, the camera ids checked after it); only a message it
    refuses is read item by item."""

    v: Literal[2]
    gateway_id: int
    unit_set: _Code
    unit_code: _Code
    received_at: AwareTime
    items: list[WireItemIdUnchecked]


class WireKeepAlive(msgspec.Struct, tag_field="kind", tag="keepalive", forbid_unknown_fields=True):
    v: Literal[1, 2]
    gateway_id: int
    ts: AwareTime
    received_at: AwareTime


_MESSAGE = msgspec.json.Decoder(WireHeartbeats | WireHeartbeatV1 | WireKeepAlive)
_MESSAGE_CHECKED = msgspec.json.Decoder(WireHeartbeatsChecked | WireHeartbeatV1 | WireKeepAlive)
_ENCODER = msgspec.json.Encoder()
_ITEM = msgspec.json.Decoder(WireItem)


@dataclass(frozen=True)
class KeepAlive:
    gateway_id: int
    ts: datetime
    received_at: datetime


def _reason(exc: msgspec.ValidationError) -> str:
    """msgspec's `Expected … - at `$.metrics.fps`` as the product's `invalid: metrics.fps: Expected …`."""
    text = str(exc)
    message, _, where = text.rpartition(" - at `$")
    if not message:
        message, where = text, "`"
    field = where.rstrip("`").lstrip(".") or "item"
    if message.startswith("Object contains unknown field"):
        return f"unknown_field: {'.'.join(p for p in (field if field != 'item' else '', message.split('`')[1]) if p)}"
    if message.startswith("Object missing required field"):
        missing = message.split("`")[1]
        return f"invalid: {field + '.' if field != 'item' else ''}{missing}: required"
    return f"invalid: {field}: {message}"


def decode_wire(
    value: bytes | None,
) -> WireHeartbeatsChecked | WireHeartbeats | WireHeartbeatV1 | WireKeepAlive:
    """The message, validated; raise InvalidMessage naming the problem. A v2 message comes back with its items
    checked (`WireHeartbeatsChecked`), or, when one of them is bad, with its items left for `decode_item`
    (`WireHeartbeats`), so each bad one is named and set aside alone."""
    if value is None:
        raise InvalidMessage("empty message")
    try:
        wire = _MESSAGE_CHECKED.decode(value)
        if not isinstance(wire, WireHeartbeatsChecked) or _camera_ids_valid(wire.items):
            return wire
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass  # read again below, to say what is wrong and where
    try:
        return _MESSAGE.decode(value)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if text.endswith("`$.kind`") or text.startswith(("Expected `object`", "Object missing required field `kind`")):
            raise InvalidMessage(f"not a heartbeat message of version 1 or 2 ({text})") from None
        raise InvalidMessage(_reason(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None


_VALID_IDS: set[str] = set()  # camera ids seen to match the pattern (a province has ≈ 150,000 cameras)
_VALID_IDS_MAX = 1_000_000


def _camera_ids_valid(items: Sequence[WireItemIdUnchecked]) -> bool:
    """Whether every item's camera id matches the pattern — checked as msgspec checks it (`re.search`), once per id."""
    new = {item.camera_id for item in items} - _VALID_IDS
    if not new:
        return True
    if not all(CAMERA_ID.search(camera_id) for camera_id in new):
        return False
    if len(_VALID_IDS) + len(new) > _VALID_IDS_MAX:
        _VALID_IDS.clear()
    _VALID_IDS.update(new)
    return True


def decode_item(raw: msgspec.Raw) -> WireItem:
    """One item of a v2 message; raise InvalidMessage naming the field."""
    try:
        return _ITEM.decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidMessage(_reason(exc)) from None


def validate_item(raw: Any, *, index: int, now: datetime) -> WireItem | Rejection:
    """One pushed item, checked (SPEC §4). The checks run in C (msgspec, the wire's own types); only an item they
    refuse goes through the HTTP model (pydantic), whose words are the reasons SPEC §4 promises — and which is a
    little laxer (a true where a number is expected, say): what it accepts is taken as it normalises it."""
    if not isinstance(raw, dict):
        return Rejection(index, "invalid: item: expected a JSON object")
    try:
        item = msgspec.convert(raw, WireItem)
    except msgspec.ValidationError:
        try:
            model = HeartbeatItem.model_validate(raw)
        except ValidationError as exc:
            return Rejection(index, describe(exc))
        item = msgspec.convert(model.model_dump(exclude_none=True), WireItem)
    ahead = item.ts - now
    if ahead > MAX_AHEAD:
        return Rejection(index, f"clock_skew: ts is {ahead.total_seconds():.0f} s ahead of the gateway clock")
    if now - item.ts > MAX_AGE:
        return Rejection(index, "too_old: ts is more than 7 days old")
    return item


def make_item(**fields: Any) -> WireItem:
    """A heartbeat the gateway makes itself (prober, device collector, demo): checked like a pushed one."""
    return msgspec.convert(fields, WireItem)
