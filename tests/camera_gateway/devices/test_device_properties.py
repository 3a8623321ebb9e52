"""Hostile input from devices, property-based (hypothesis): whatever bytes a device sends, the multipart reader
hands out the same parts however the bytes are cut and never holds more than its bounds; each protocol parser
either reads a part or refuses it with its own ValueError (which the loop counts as malformed); and the tracker
never makes two heartbeats of one camera at one instant, nor one that goes back. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from camera_gateway.devices import dahua, hikvision
from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.multipart import MultipartReader
from camera_gateway.devices.tracker import DeviceTracker

T = datetime(2026, 11, 30, tzinfo=UTC)
PIECES = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"--b\r\n", b"--b", b"\r\n\r\n", b"\n\n", b"Content-Length: 3\r\n", b"--b--\r\n", b"\r\n"]),
    ),
    max_size=30,
)


@settings(max_examples=1000)  # cheap, and where the cutting bugs were found
@given(PIECES, st.integers(min_value=1, max_value=50))
def test_the_reader_gives_the_same_parts_however_the_bytes_are_cut_and_stays_bounded(pieces, size) -> None:
    data = b"".join(pieces)
    whole = MultipartReader("b", max_part=64, max_header=64)
    expected = whole.feed(data)
    cut = MultipartReader("b", max_part=64, max_header=64)
    got = []
    for i in range(0, len(data), size):
        got += cut.feed(data[i : i + size])
        assert len(cut._buf) <= 64 + 64 + 8  # never more than a part, a header block and a marker
    assert [p for p in got if not hasattr(p, "reason")] == [p for p in expected if not hasattr(p, "reason")]


XMLISH = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda a, b, c: (
            f"<EventNotificationAlert><eventType>{a}</eventType><eventState>{b}</eventState>"
            f"<channelID>{c}</channelID><activePostCount>{c}</activePostCount></EventNotificationAlert>".encode()
        ),
        st.text(max_size=12),
        st.text(max_size=8),
        st.text(max_size=4),
    ),
)


@given(XMLISH)
def test_a_hikvision_alert_is_read_or_refused_as_malformed(body) -> None:
    try:
        events = hikvision.parse_alert(body)
    except hikvision.MalformedAlert:
        return
    assert all(isinstance(e, DeviceEvent) for e in events)


@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)), st.text(max_size=60))
def test_a_pushed_body_is_read_or_refused_with_a_value_error(body, content_type) -> None:
    try:
        hikvision.parse_push(body, content_type)
    except ValueError:
        return


CODEISH = st.builds(
    lambda code, action, index, data: f"Code={code};action={action};index={index}{data}".encode(),
    st.sampled_from(["VideoLoss", "VideoBlind", "Heartbeat", "", "X;Y"]) | st.text(max_size=8),
    st.sampled_from(["Start", "Stop", "Pulse"]) | st.text(max_size=6),
    st.integers(min_value=-3, max_value=300).map(str) | st.text(max_size=4),
    st.just("") | st.text(max_size=40).map(lambda t: ";data=" + t),
)


@given(st.one_of(st.binary(max_size=200), CODEISH))
def test_a_dahua_part_is_read_or_refused_as_malformed(body) -> None:
    try:
        events = dahua.parse_part(body)
    except dahua.MalformedPart:
        return
    assert all(isinstance(e, DeviceEvent) for e in events)


EVENTS = st.lists(
    st.builds(
        DeviceEvent,
        st.sampled_from(list(Signal)),
        st.sampled_from([None, "1", "2", "34"]),
        st.booleans(),
        st.booleans(),
    ),
    max_size=4,
)


@given(st.lists(st.tuples(st.integers(min_value=-5, max_value=400), EVENTS), max_size=40))
def test_the_tracker_never_makes_two_heartbeats_of_a_camera_at_one_instant_nor_goes_back(steps) -> None:
    tracker = DeviceTracker(hold_s=30)
    last: dict[str, datetime] = {}
    now = T
    for delta, events in steps:
        now = now + timedelta(seconds=delta)  # the gateway's clock may step back a little
        for beat in tracker.observe(events, now, {"1": 60, "2": 60}):
            assert beat.channel not in last or beat.ts > last[beat.channel]
            last[beat.channel] = beat.ts
