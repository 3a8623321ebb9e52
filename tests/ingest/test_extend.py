"""`rollup.extend`, the writer's in-order path (issue 19): a stream cut into consecutive batches and grown batch by
batch from the stored state gives exactly the intervals of the pure rules over the whole stream. Pure."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.uptime import Beat, Interval, merge, spans
from services.ingest.rollup import extend

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STREAMS = st.lists(
    st.tuples(st.sampled_from([1, 30, 60, 61, 119, 120, 121, 300, 3600]), st.sampled_from(["up", "degraded", "down"])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=500)
@given(STREAMS, st.lists(st.integers(1, 10), min_size=1, max_size=40), st.sampled_from([(60, None), (30, 0), (60, 10)]))
def test_growing_batch_by_batch_equals_the_rules_over_the_whole_stream(steps, cuts, timing) -> None:
    interval_s, grace_s = timing
    at, beats = T0, []
    for gap, state in steps:
        at += timedelta(seconds=gap)
        beats.append(Beat(at, state))
    stored: list[Interval] = []
    last_beat = None
    i = 0
    for size in [*cuts, len(beats)]:
        batch = beats[i : i + size]
        if not batch:
            break
        grown = extend(last_beat, stored[-1] if stored else None, batch, interval_s=interval_s, grace_s=grace_s)
        if grown.last_end is not None:
            stored[-1] = Interval(stored[-1].start, grown.last_end, stored[-1].state)
        stored += grown.added
        last_beat = batch[-1]
        i += size
    assert merge(stored) == stored  # never two neighbours that should have been one
    assert stored == spans(beats, interval_s=interval_s, grace_s=grace_s)


def test_a_batch_with_a_duplicate_and_the_first_beat_ever() -> None:
    beats = [Beat(T0, "up"), Beat(T0 + timedelta(seconds=60), "up"), Beat(T0 + timedelta(seconds=60), "down")]
    grown = extend(None, None, beats, interval_s=60, grace_s=None)
    assert grown == (None, [Interval(T0, T0 + timedelta(seconds=60), "up")])
