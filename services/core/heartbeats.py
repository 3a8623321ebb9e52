"""A camera heartbeat, from the HTTP item (SPEC §4) to the Kafka message that ingest reads. Pure.

The gateway validates each pushed item with `validate_item` (a rejection names the field and why), adds who
delivered it, and produces `to_message`; ingest decodes the same bytes with `decode_wire`, which validates
again because a topic can hold anything. Keep-alives of a gateway travel on the same topic, so the watermark
(SPEC §5) only moves with what has really come through the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    field_validator,
    with_config,
)
from pydantic_core import to_json
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

CAMERA_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_AHEAD = timedelta(minutes=2)
MAX_AGE = timedelta(days=7)
WIRE_VERSION = 1


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
    status: Literal["ok", "degraded", "down"] = "ok"
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


def validate_item(raw: Any, *, index: int, now: datetime) -> HeartbeatItem | Rejection:
    if not isinstance(raw, dict):
        return Rejection(index, "invalid: item: expected a JSON object")
    try:
        item = HeartbeatItem.model_validate(raw)
    except ValidationError as exc:
        return Rejection(index, describe(exc))
    ahead = item.ts - now
    if ahead > MAX_AHEAD:
        return Rejection(index, f"clock_skew: ts is {ahead.total_seconds():.0f} s ahead of the gateway clock")
    if now - item.ts > MAX_AGE:
        return Rejection(index, "too_old: ts is more than 7 days old")
    return item


# --- the Kafka message --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """Who delivered a heartbeat, and when: added by the gateway."""

    gateway_id: int
    unit_set: str  # the gateway's unit an unknown camera is registered under
    unit_code: str
    received_at: datetime


def to_message(item: HeartbeatItem, delivery: Delivery) -> bytes:
    # pydantic-core writes the JSON (timestamps as RFC 3339): the gateway does this for every heartbeat.
    return to_json(
        {
            "v": WIRE_VERSION,
            "kind": "heartbeat",
            "camera_id": item.camera_id,
            "ts": item.ts,
            "status": item.status,
            "seq": item.seq,
            "metrics": without_none(item.metrics),
            "quality": without_none(item.quality),
            "gateway_id": delivery.gateway_id,
            "unit_set": delivery.unit_set,
            "unit_code": delivery.unit_code,
            "received_at": delivery.received_at,
        },
        exclude_none=True,
    )


def keepalive_message(*, gateway_id: int, ts: datetime, received_at: datetime) -> bytes:
    body = {"v": WIRE_VERSION, "kind": "keepalive", "gateway_id": gateway_id, "ts": ts, "received_at": received_at}
    return to_json(body)


class InvalidMessage(ValueError):
    """A message ingest cannot use; the reason goes to the dead-letter topic."""


@with_config(ConfigDict(extra="forbid"))
class WireHeartbeat(TypedDict):
    v: Literal[1]
    kind: Literal["heartbeat"]
    camera_id: Annotated[str, Field(pattern=CAMERA_ID_PATTERN)]
    ts: Annotated[AwareDatetime, Field(strict=True)]
    status: Literal["ok", "degraded", "down"]
    seq: NotRequired[Annotated[int, Field(ge=0, strict=True)] | None]
    metrics: NotRequired[Metrics | None]
    quality: NotRequired[Quality | None]
    gateway_id: Annotated[int, Field(strict=True)]
    unit_set: Annotated[str, Field(max_length=32)]
    unit_code: Annotated[str, Field(max_length=32)]
    received_at: Annotated[AwareDatetime, Field(strict=True)]


@with_config(ConfigDict(extra="forbid"))
class WireKeepAlive(TypedDict):
    v: Literal[1]
    kind: Literal["keepalive"]
    gateway_id: Annotated[int, Field(strict=True)]
    ts: Annotated[AwareDatetime, Field(strict=True)]
    received_at: Annotated[AwareDatetime, Field(strict=True)]


# One pass in pydantic-core (JSON parsing and validation in Rust) into dicts: ingest decodes every message with it.
_WIRE = TypeAdapter(Annotated[WireHeartbeat | WireKeepAlive, Field(discriminator="kind")])


@dataclass(frozen=True)
class KeepAlive:
    gateway_id: int
    ts: datetime
    received_at: datetime


def decode_wire(value: bytes | None) -> WireHeartbeat | WireKeepAlive:
    """Validate a message in one pass; raise InvalidMessage naming the problem."""
    if value is None:
        raise InvalidMessage("empty message")
    try:
        return _WIRE.validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in ("json_invalid", "json_type"):
            raise InvalidMessage(f"not JSON: {first['msg']}") from None
        if first["type"] in ("union_tag_not_found", "union_tag_invalid", "dict_type"):
            raise InvalidMessage(f"not a version-{WIRE_VERSION} message object ({first['msg']})") from None
        if first["loc"] and first["loc"][0] in ("heartbeat", "keepalive"):
            first["loc"] = first["loc"][1:]
        if first["type"] == "missing":
            raise InvalidMessage(f"missing field {'.'.join(map(str, first['loc']))}") from None
        raise InvalidMessage(describe_error(first)) from None
