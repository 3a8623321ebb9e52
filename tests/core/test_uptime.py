"""SPEC §5 on hand-made heartbeats; every expected number is worked out by hand in the comments."""

from datetime import UTC, datetime, timedelta

from services.core.uptime import (
    Beat,
    beat_state,
    figures,
    intervals,
    live_state,
    seconds_by_state,
    spans,
    tail,
)

T0 = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def up(*seconds: float) -> list[Beat]:
    return [Beat(at(s), "up") for s in seconds]


def secs(beats, *, watermark, start=0, end, interval_s=60, grace_s=None, maintenance=()):
    covered = intervals(
        beats,
        interval_s=interval_s,
        grace_s=grace_s,
        watermark=at(watermark) if watermark is not None else None,
        start=at(start),
        end=at(end),
        maintenance=[(at(a), at(b)) for a, b in maintenance],
    )
    return {k: v for k, v in seconds_by_state(covered).items() if v}


def test_a_steady_camera_is_up_from_its_first_heartbeat_to_the_watermark() -> None:
    # beats every 60 s from 0 to 600, watermark 630: up [0, 630), unknown [630, 700)
    assert secs(up(*range(0, 601, 60)), watermark=630, end=700) == {"up": 630, "unknown": 70}


def test_before_the_first_heartbeat_the_state_is_unknown() -> None:
    assert secs(up(100, 160), watermark=160, end=200) == {"unknown": 100 + 40, "up": 60}


def test_a_gap_longer_than_i_plus_g_is_down_after_i() -> None:
    # I = G = 60; gap 0 → 300 (> 120): up [0, 60), down [60, 300), up [300, 360)
    assert secs(up(0, 300), watermark=360, end=360) == {"up": 60 + 60, "down": 240}


def test_a_gap_shorter_than_i_plus_g_keeps_the_state() -> None:
    # gap 0 → 110 (≤ 120): up the whole way
    assert secs(up(0, 110), watermark=110, end=110) == {"up": 110}


def test_a_gap_of_exactly_i_plus_g_keeps_the_state() -> None:
    assert secs(up(0, 120), watermark=120, end=120) == {"up": 120}


def test_a_down_verdict_counts_down_until_the_next_heartbeat() -> None:
    beats = [Beat(at(0), "up"), Beat(at(60), "down"), Beat(at(120), "down"), Beat(at(180), "up")]
    assert secs(beats, watermark=240, end=240) == {"up": 60 + 60, "down": 120}


def test_a_quality_flag_makes_an_ok_heartbeat_degraded() -> None:
    assert beat_state("ok", {"black": True}) == "degraded"
    assert beat_state("ok", {"frozen": False, "blur": 12.5}) == "up"
    assert beat_state("degraded") == "degraded"
    assert beat_state("down", {"black": True}) == "down"
    beats = [Beat(at(0), "up"), Beat(at(60), beat_state("ok", {"obstructed": True})), Beat(at(120), "up")]
    assert secs(beats, watermark=180, end=180) == {"up": 120, "degraded": 60}


def test_duplicates_count_once_and_order_does_not_matter() -> None:
    beats = up(0, 60, 120, 180)
    shuffled = [beats[2], beats[0], beats[3], beats[0], beats[1], beats[2]]
    assert spans(shuffled, interval_s=60) == spans(beats, interval_s=60)
    assert secs(shuffled, watermark=200, end=200) == {"up": 200}


def test_the_watermark_decides_between_down_and_unknown() -> None:
    # last beat 0; W = 100 (≤ I + G): up to W, unknown after
    assert secs(up(0), watermark=100, end=400) == {"up": 100, "unknown": 300}
    # W = 400 (> I + G): up [0, 60), down [60, 400)
    assert secs(up(0), watermark=400, end=400) == {"up": 60, "down": 340}


def test_a_silent_gateway_makes_time_after_its_watermark_unknown_not_down() -> None:
    # camera's last beat 600, the gateway delivered nothing after 600: everything after is unknown
    assert secs(up(0, 300, 600), watermark=600, end=1200) == {"up": 60 + 60, "down": 240 + 240, "unknown": 600}


def test_a_late_replayed_batch_turns_unknown_into_up() -> None:
    before = secs(up(0, 60), watermark=60, end=600)
    assert before == {"up": 60, "unknown": 540}
    after = secs(up(0, 60, *range(120, 601, 60)), watermark=600, end=600)
    assert after == {"up": 600}


def test_grace_can_differ_from_the_interval() -> None:
    # I = 60, G = 10: a gap of 100 (> 70) is down after 60
    assert secs(up(0, 100), watermark=100, end=100, grace_s=10) == {"up": 60, "down": 40}


def test_maintenance_replaces_whatever_the_heartbeats_say() -> None:
    # down [60, 300) except [100, 200) in maintenance
    got = secs(up(0, 300), watermark=300, end=300, maintenance=[(100, 200)])
    assert got == {"up": 60, "down": 140, "maintenance": 100}


def test_a_window_in_the_middle_is_clipped_exactly() -> None:
    assert secs(up(0, 300), watermark=360, start=30, end=90) == {"up": 30, "down": 30}


def test_the_tail_is_empty_when_the_watermark_is_not_after_the_last_beat() -> None:
    assert tail(Beat(at(100), "up"), at(100), interval_s=60) == []
    assert tail(Beat(at(100), "up"), None, interval_s=60) == []


def test_figures_leave_unknown_and_maintenance_out_of_the_denominator() -> None:
    f = figures({"up": 60, "degraded": 20, "down": 20, "unknown": 100, "maintenance": 0})
    assert f.availability == 0.8 and f.healthy == 0.6 and f.coverage == 0.5
    assert figures({"unknown": 10}).availability is None
    assert figures({}).coverage is None


def test_live_state_goes_down_once_i_plus_g_has_passed() -> None:
    last = Beat(at(0), "up")
    assert live_state(last, now=at(120), watermark=at(120), interval_s=60, gateway_silent=False) == "up"
    assert live_state(last, now=at(121), watermark=at(121), interval_s=60, gateway_silent=False) == "down"
    # Bounded by the watermark: the gateway has not delivered past the deadline, so the camera is not down yet.
    assert live_state(last, now=at(150), watermark=at(119), interval_s=60, gateway_silent=False) == "up"
    assert live_state(last, now=at(500), watermark=at(400), interval_s=60, gateway_silent=True) == "unknown"
    assert live_state(last, now=at(10), watermark=None, interval_s=60, gateway_silent=False) == "unknown"
    assert live_state(None, now=at(0), watermark=at(0), interval_s=60, gateway_silent=False) == "unknown"


STATES3 = ("up", "degraded", "down")


def test_the_rules_on_arrays_agree_with_tail_and_live_state_on_many_cases() -> None:
    """`tail_micros` and `live_states` (every camera at once, for the province's views) against `tail` and
    `live_state`, case by case, with microseconds, missing heartbeats and watermarks."""
    import random

    import numpy as np

    from services.core.fleet import micros
    from services.core.uptime import LIVE_STATES, NEVER, clip, live_states, tail_micros

    rng = random.Random(7)
    cases = []
    for _ in range(3000):
        last = Beat(at(rng.randint(0, 600)) + timedelta(microseconds=rng.randint(0, 999_999)), rng.choice(STATES3))
        watermark = at(rng.randint(0, 1200)) if rng.random() > 0.1 else None
        interval, grace = rng.choice([30, 60, 300]), rng.choice([None, 0, 10, 60])
        lo = at(rng.randint(0, 900)) + timedelta(microseconds=rng.randint(0, 999_999))
        hi = lo + timedelta(seconds=rng.randint(1, 900))
        now = at(rng.randint(0, 1500))
        silent = watermark is None or (now - watermark).total_seconds() > 90
        cases.append((None if rng.random() < 0.05 else last, watermark, interval, grace, lo, hi, now, silent))

    def column(values: list) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    last = column([micros(c[0].ts) if c[0] else NEVER for c in cases])
    state = column([STATES3.index(c[0].state) if c[0] else 0 for c in cases])
    watermark = column([micros(c[1]) if c[1] else NEVER for c in cases])
    interval = column([c[2] * 1_000_000 for c in cases])
    grace = column([(c[2] if c[3] is None else c[3]) * 1_000_000 for c in cases])
    lo, hi = column([micros(c[4]) for c in cases]), column([micros(c[5]) for c in cases])
    in_state, down = tail_micros(last, watermark, interval, grace, lo, hi)
    for k, (beat, w, i, g, a, b, *_) in enumerate(cases):
        expected = [0, 0]
        if beat is not None:
            for part, iv in enumerate(tail(beat, w, interval_s=i, grace_s=g)):
                expected[part] += sum((c.end - c.start) // timedelta(microseconds=1) for c in clip([iv], a, b))
        assert [in_state[k], down[k]] == expected, cases[k]
    for k, (beat, w, i, g, *_, now, silent) in enumerate(cases):
        states = live_states(
            last[k : k + 1],
            state[k : k + 1],
            watermark[k : k + 1],
            interval[k : k + 1],
            grace[k : k + 1],
            now=micros(now),
            gateway_silence=90e6,
        )
        expected_live = live_state(beat, now=now, watermark=w, interval_s=i, grace_s=g, gateway_silent=silent)
        assert LIVE_STATES[states[0]] == expected_live, cases[k]
