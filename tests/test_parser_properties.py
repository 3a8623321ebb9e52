"""Hostile input, property-based (hypothesis): every parser that reads what the outside world sends — heartbeat
items, Kafka messages, app-event envelopes and events, CSV imports, timestamps — either accepts the input or refuses
it with its own error naming the problem. Nothing else escapes (no crash, no stray exception type), and what is
accepted survives the trip through the wire format unchanged. Pure: no I/O."""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app_events import validation
from services.core import heartbeats
from services.core.cameras import CameraFileError, parse_cameras_csv
from services.core.heartbeats import Delivery, HeartbeatItem, Rejection, WireItem
from services.core.units import UnitFileError, parse_units_csv
from services.core.uptime import Beat, spans
from services.ingest import app_events as ingest_events
from services.ingest import heartbeats as ingest_heartbeats

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
FIELDS = ["camera_id", "ts", "status", "seq", "metrics", "quality", "extra"]
# Objects shaped like heartbeat items, with each field missing, well-typed or hostile.
ITEMS = st.dictionaries(
    st.sampled_from(FIELDS),
    st.one_of(JSON, st.text(alphabet="abc-._:0189", min_size=1, max_size=70), st.sampled_from(["ok", "down"])),
)
CAMERA_IDS = st.from_regex(r"\A[A-Za-z0-9._:-]{1,64}\Z")
REASONS = ("invalid: ", "unknown_field: ", "clock_skew: ", "too_old: ")


@given(ITEMS | JSON)
def test_a_heartbeat_item_is_accepted_or_refused_with_a_named_reason(raw) -> None:
    result = heartbeats.validate_item(raw, index=3, now=NOW)
    if isinstance(result, Rejection):
        assert result.index == 3 and result.reason.startswith(REASONS), result.reason
    else:
        assert isinstance(result, WireItem)
        HeartbeatItem.model_validate(raw)  # the C checks accept nothing the HTTP model (SPEC §4's words) refuses


@given(
    CAMERA_IDS,
    st.integers(min_value=-7 * 86400 + 1, max_value=120),
    st.sampled_from(["ok", "degraded", "down"]),
    st.none() | st.integers(min_value=0, max_value=2**62),
)
def test_a_valid_heartbeat_survives_the_wire_unchanged(camera_id, offset_s, status, seq) -> None:
    ts = NOW + timedelta(seconds=offset_s)
    raw = {"camera_id": camera_id, "ts": ts.isoformat(), "status": status, "seq": seq}
    item = heartbeats.validate_item({k: v for k, v in raw.items() if v is not None}, index=0, now=NOW)
    assert isinstance(item, WireItem)
    message = ingest_heartbeats.process_message(heartbeats.to_message([item], Delivery(7, "2024", "15865", NOW)))
    (row,) = message.rows
    assert (row.camera_id, row.ts, row.status, row.seq, row.gateway_id) == (camera_id, ts, status, seq, 7)
    assert message.rejected == ()


@given(st.binary(max_size=300) | JSON.map(lambda v: __import__("json").dumps(v).encode()))
def test_any_kafka_message_is_a_heartbeat_or_a_named_dead_letter(value: bytes) -> None:
    try:
        ingest_heartbeats.process_message(value)
    except heartbeats.InvalidMessage as exc:
        assert str(exc)


@given(st.binary(max_size=300) | JSON.map(lambda v: __import__("json").dumps(v).encode()))
def test_any_app_event_message_is_rows_or_a_named_refusal(value: bytes) -> None:
    try:
        rows = ingest_events.process_message(value, tz=UTC)
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(rows, tuple)


# App-event messages as the collector writes them (app_events/messages.py), then hostile: a field of the message or
# of an event set to a near miss of its rule or to JSON of any type, dropped, or joined by an extra field. Neither
# NaN/Infinity nor a 32-digit integer: there the two decoders knowingly differ (see test_app_event_processing.py).
FINITE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=12,
)
TIME_NEAR_MISSES: list[Any] = [
    "2024-03-31T17:30:00",  # naive
    "2024-03-31",
    "yesterday",
    "2024-03-31T17:30:00z",
    "2024-03-31t17:30:00Z",
    "2024-03-31T17:30:00+07",
    "2024-03-31 17:30:00+07:00",
    "2024-03-31T17:30:00.1234567Z",
    "2024-W13-7T17:30Z",
    "2024-03-31T24:00:00Z",
    "2024-03-31T17:30:00+24:00",
    "9999-12-31T23:59:59-03:30",  # no local day in Asia/Ho_Chi_Minh
    1711906200,
    None,
]
CODE_NEAR_MISSES: list[Any] = ["20 24", "", "x" * 32, "x" * 33, "2024\n", "ở", 2024, None]
MESSAGE_NEAR_MISSES: dict[str, list[Any]] = {
    "v": [1, 2.0, "2", True, 3, None],
    "subject": ["user-42", "AB" * 32, "ab" * 32 + "\n", "ab" * 31, "ab" * 33, "", None],
    "unit_set": CODE_NEAR_MISSES,
    "app_id": [True, "3", 3.0, 2**70, -1, None],
    "platform": ["x" * 16, "x" * 17, "ở" * 16, "ở" * 17, 5, None],
    "app_version": ["x" * 32, "x" * 33, 1, None],
    "received_at": TIME_NEAR_MISSES,
    "events": [[], {}, [1], "x", [None], None],
}
EVENT_NEAR_MISSES: dict[str, list[Any]] = {
    "event_id": [
        "nope",
        "",
        "00000000-0000-0000-0000-00000000000",
        "00000000-0000-0000-0000-0000000000000",
        "ABCDEF00-0000-0000-0000-000000000000",
        "abcdef00000000000000000000000000",
        7,
        None,
    ],
    "event": ["Bad Name", "app_open\n", "_x", "a" * 64, "a" * 65, "", 3, None],
    "unit_code": CODE_NEAR_MISSES,
    "unit_set": CODE_NEAR_MISSES,
    "session_id": ["x" * 64, "x" * 65, "ở" * 65, "", 5, None],
    "properties": [[1], "x", 1, {}, {"a": {"b": [1, None, 2.5]}}, {"é": "ở"}, {"k": "x" * 500}, None],
    "background": ["no", 0, 1, None],
    "event_time": TIME_NEAR_MISSES,
}
NEAR_MISSES = [("message", field, value) for field, values in MESSAGE_NEAR_MISSES.items() for value in values] + [
    ("event", field, value) for field, values in EVENT_NEAR_MISSES.items() for value in values
]
AWARE_TIMES = st.builds(
    lambda at, timespec, z: at.isoformat(timespec=timespec).replace("+00:00", "Z" if z else "+00:00"),
    st.datetimes(  # naive bounds, as hypothesis takes them; years with a local day everywhere
        min_value=datetime(1900, 1, 1),  # noqa: DTZ001
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3.5))]),
    ),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.booleans(),
)
CODES = st.from_regex(r"\A[A-Za-z0-9_-]{1,32}\Z")
LEFT_OUT = st.just(...)  # the field is not in the message
APP_EVENTS = st.fixed_dictionaries(
    {
        "event_id": st.uuids().map(str),
        "event": st.sampled_from(["app_open", "screen_view", "x"]) | st.from_regex(r"\A[a-z][a-z0-9_]{0,63}\Z"),
        "event_time": AWARE_TIMES,
        "unit_code": LEFT_OUT | st.none() | CODES,
        "unit_set": LEFT_OUT | CODES,
        "session_id": LEFT_OUT | st.none() | st.text(max_size=64),
        "created_at": AWARE_TIMES,
        "properties": LEFT_OUT | st.dictionaries(st.text(max_size=8), FINITE_JSON, max_size=4),
        "known": st.booleans(),
        "background": LEFT_OUT | st.booleans(),
    }
)
APP_EVENT_MESSAGES = st.fixed_dictionaries(
    {
        "v": st.just(2),
        "subject": st.binary(min_size=32, max_size=32).map(bytes.hex),
        "anonymous": st.booleans(),
        "unit_set": LEFT_OUT | st.none() | CODES,
        "received_at": AWARE_TIMES,
        "app_id": LEFT_OUT | st.none() | st.integers(0, 2**31),
        "platform": LEFT_OUT | st.none() | st.text(max_size=16),
        "app_version": LEFT_OUT | st.none() | st.text(max_size=32),
        "events": st.lists(APP_EVENTS, min_size=1, max_size=4),
    }
)
# What can happen to a message: (where, field, value), a value of ... dropping the field.
MUTATIONS = st.one_of(
    st.sampled_from(NEAR_MISSES),
    st.tuples(st.sampled_from(["message", "event"]), st.sampled_from(sorted({*MESSAGE_NEAR_MISSES})), FINITE_JSON),
    st.tuples(st.sampled_from(["event"]), st.sampled_from(sorted({*EVENT_NEAR_MISSES})), FINITE_JSON),
    st.tuples(st.sampled_from(["message", "event"]), st.sampled_from(sorted({*EVENT_NEAR_MISSES})), LEFT_OUT),
    st.tuples(st.sampled_from(["message", "event"]), st.sampled_from(sorted({*MESSAGE_NEAR_MISSES})), LEFT_OUT),
    st.tuples(
        st.sampled_from(["message", "event"]),
        st.sampled_from(["anonymous", "known", "created_at", "os_version"]) | st.text(max_size=8),
        FINITE_JSON,
    ),
)


def _mutated(message: dict[str, Any], where: str, field: str, value: Any) -> dict[str, Any]:
    """The message with `field` of the message or of its last event set to `value` (dropped for `...`)."""
    message = dict(message)
    if where == "message":
        message[field] = value
    elif isinstance(events := message.get("events"), list) and events and isinstance(events[-1], dict):
        message["events"] = [*events[:-1], {**events[-1], field: value}]
    return message


def _app_event_bytes(message: dict[str, Any], *, ensure_ascii: bool = True) -> bytes:
    """JSON as the collector writes it, the fields valued `...` left out."""
    message = {k: v for k, v in message.items() if v is not ...}
    if isinstance(events := message.get("events"), list):
        message["events"] = [{k: v for k, v in e.items() if v is not ...} if isinstance(e, dict) else e for e in events]
    return json.dumps(message, ensure_ascii=ensure_ascii).encode()


def _app_event_outcome(decode: Any, value: bytes) -> tuple[str, Any]:
    try:
        rows = decode(value, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    except ValueError as exc:
        return "refused", str(exc)
    assert all(isinstance(row.properties, bytes) for row in rows)
    return "rows", [row._replace(properties=json.loads(row.properties)) for row in rows]


def _assert_both_app_event_decoders_agree(value: bytes) -> tuple[str, Any]:
    """msgspec's fast path (`process_message`) and the field-by-field checks in Python (`decode_by_hand`) make
    the same rows (properties compared as JSON) or refuse with the same reason."""
    fast = _app_event_outcome(ingest_events.process_message, value)
    assert fast == _app_event_outcome(ingest_events.decode_by_hand, value)
    return fast


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(APP_EVENT_MESSAGES, st.lists(MUTATIONS, max_size=3), st.booleans())
def test_the_app_event_fast_path_agrees_with_the_checks_that_word_its_refusals(message, mutations, ascii) -> None:
    for mutation in mutations:
        message = _mutated(message, *mutation)
    outcome = _assert_both_app_event_decoders_agree(_app_event_bytes(message, ensure_ascii=ascii))
    if not mutations:
        assert outcome[0] == "rows" and len(outcome[1]) == len(message["events"])


VALID_APP_EVENT_MESSAGE = {
    "v": 2,
    "subject": "ab" * 32,
    "anonymous": False,
    "unit_set": "2024",
    "received_at": "2024-03-31T17:30:05Z",
    "app_id": 3,
    "platform": "android",
    "app_version": "2.3.1",
    "events": [
        {
            "event_id": str(uuid.UUID(int=i)),
            "event": "app_open",
            "unit_code": "15865",
            "unit_set": "2025",
            "session_id": "s1",
            "event_time": "2024-03-31T17:30:00+07:00",
            "created_at": "2024-03-31T17:30:00+07:00",
            "properties": {"cold_start": True},
            "known": True,
            "background": False,
        }
        for i in range(2)
    ],
}


@pytest.mark.parametrize(("where", "field", "value"), NEAR_MISSES)
def test_every_near_miss_is_judged_alike_by_both_app_event_decoders(where, field, value) -> None:
    """Each near miss at least once, whatever hypothesis draws; and dropped."""
    _assert_both_app_event_decoders_agree(_app_event_bytes(_mutated(VALID_APP_EVENT_MESSAGE, where, field, value)))
    _assert_both_app_event_decoders_agree(_app_event_bytes(_mutated(VALID_APP_EVENT_MESSAGE, where, field, ...)))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(JSON | st.fixed_dictionaries({"context": JSON, "events": st.lists(JSON, max_size=3), "sent_at": JSON}))
def test_an_app_envelope_is_accepted_or_refused_naming_the_field(body) -> None:
    try:
        envelope = validation.check_envelope(body)
    except validation.EnvelopeError as exc:
        assert ":" in str(exc)  # "context.platform: expected …"
    else:
        assert 1 <= len(envelope.events) <= validation.MAX_EVENTS


@given(JSON | st.dictionaries(st.sampled_from(["event_id", "event", "created_at", "properties", "user_id", "x"]), JSON))
def test_an_app_event_is_checked_or_refused_with_a_reason(raw) -> None:
    result = validation.check_event(raw)
    assert isinstance(result, validation.CheckedEvent) or (isinstance(result, str) and result)


@given(
    st.text(max_size=400)
    | st.lists(st.lists(st.text(max_size=12), max_size=8), max_size=6).map(
        lambda rows: "\n".join(",".join(r) for r in rows)
    )
)
def test_a_units_file_is_read_or_refused_with_its_problems(text: str) -> None:
    try:
        parse_units_csv("code,name,type,unit_set,successor_code\n" + text)
    except UnitFileError as exc:
        assert exc.problems


@given(st.lists(st.lists(st.text(alphabet="ab1,.-:/ ", max_size=12), min_size=1, max_size=8), max_size=6))
def test_a_cameras_file_is_read_or_refused_with_line_numbers(rows) -> None:
    text = "camera_id,unit_code,name,interval_s,stream_url,lat,lon\n" + "\n".join(",".join(r) for r in rows)
    try:
        parsed = parse_cameras_csv(text, known_units={"15865"})
    except CameraFileError as exc:
        assert exc.problems and all(p.startswith(("line ", "the file", "header", "missing")) for p in exc.problems)
    else:
        assert parsed and all(r.unit_code == "15865" for r in parsed)


@given(JSON | st.datetimes().map(lambda d: d.isoformat()))
def test_a_timestamp_is_aware_or_refused(value) -> None:
    try:
        parsed = heartbeats.parse_rfc3339(value)
    except ValueError:
        return
    assert parsed.utcoffset() is not None


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=5000), st.sampled_from(["up", "degraded", "down"])),
        min_size=1,
        max_size=40,
        unique_by=lambda beat: beat[0],  # one heartbeat per ts; a repeat is the same heartbeat delivered again
    ),
    st.randoms(use_true_random=False),
)
def test_stored_spans_cover_first_to_last_beat_whatever_the_order(raw, rng) -> None:
    t0 = NOW
    beats = [Beat(t0 + timedelta(seconds=s), state) for s, state in raw]
    shuffled = list(beats)
    rng.shuffle(shuffled)
    out = spans(beats, interval_s=60)
    assert out == spans(shuffled + shuffled[:3], interval_s=60)  # order and duplicates do not matter
    first, last = min(b.ts for b in beats), max(b.ts for b in beats)
    if first == last:
        assert out == []
        return
    assert out[0].start == first and out[-1].end == last
    assert all(a.end == b.start for a, b in itertools.pairwise(out))  # contiguous, no overlap
    assert sum(i.seconds for i in out) == (last - first).total_seconds()


AWARE = st.datetimes(timezones=st.just(UTC))


@given(AWARE, st.none() | AWARE, AWARE)
def test_the_clock_correction_never_fails_and_never_moves_an_event_far_ahead(received_at, sent_at, created_at) -> None:
    at = validation.event_time(received_at=received_at, sent_at=sent_at, created_at=created_at)
    assert at - received_at <= validation.MAX_AHEAD  # a device clock centuries off falls back to received_at


# Metrics and quality shaped like the real ones: known fields with in-range, out-of-range and ill-typed values.
READING_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-300, 1200), st.floats(-300, 1200, allow_nan=False), st.text(max_size=3)
)
METRICS = st.dictionaries(st.sampled_from([*heartbeats.WireMetrics.__struct_fields__, "colour"]), READING_VALUES)
QUALITY = st.dictionaries(st.sampled_from([*heartbeats.WireQuality.__struct_fields__, "tint"]), READING_VALUES)


@settings(max_examples=400)
@given(
    st.sampled_from(["ok", "degraded", "down", "fine", None]),
    st.one_of(st.none(), st.integers(-2, 2**62), st.booleans()),
    st.one_of(st.none(), METRICS),
    st.one_of(st.none(), QUALITY),
)
def test_what_the_gateway_accepts_the_wire_accepts_unchanged(status, seq, metrics, quality) -> None:
    """The HTTP item (pydantic, SPEC §4) and the wire item (msgspec, what ingest decodes) declare the same
    constraints twice: whatever the gateway accepts must pass the wire's checks with the same readings, and
    the raw item refused by the gateway must not slip through the wire's checks as it is either (except where the
    gateway only normalised a value, e.g. an integer fps)."""
    import json

    import msgspec

    raw = {"camera_id": "cam-1", "ts": NOW.isoformat(), "status": status, "seq": seq}
    raw |= {"metrics": metrics, "quality": quality}
    raw = {k: v for k, v in raw.items() if v is not None}
    http = heartbeats.validate_item(raw, index=0, now=NOW)
    if isinstance(http, Rejection):
        with contextlib.suppress(heartbeats.InvalidMessage):
            heartbeats.decode_item(msgspec.Raw(json.dumps(raw).encode()))
            raise AssertionError(f"the wire takes what the gateway refused: {raw} ({http.reason})")
        return
    message = ingest_heartbeats.process_message(heartbeats.to_message([http], Delivery(7, "2024", "15865", NOW)))
    assert message.rejected == ()
    (row,) = message.rows
    jsonb = ingest_heartbeats.JSONB_VERSION
    assert row.metrics == (jsonb + msgspec.json.encode(http.metrics) if http.metrics else None)
    assert row.quality == (jsonb + msgspec.json.encode(http.quality) if http.quality else None)
