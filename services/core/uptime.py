"""Camera state from heartbeats (SPEC §5), as pure functions. The one home of these rules.

For a camera with interval I and grace G, heartbeats h₁ < h₂ < … and its gateway's watermark W:
- between hᵢ and hᵢ₊₁: if hᵢ₊₁ − hᵢ ≤ I + G the span has hᵢ's state; otherwise [hᵢ, hᵢ + I) has it and
  [hᵢ + I, hᵢ₊₁) is down;
- after the last heartbeat hₙ, up to W, the same rule with W in place of hₙ₊₁ (down only once W − hₙ > I + G,
  otherwise hₙ's state up to W); after W, and before h₁, unknown.
- a heartbeat's state is up (ok), degraded (degraded, or ok with a quality flag set) or down (a prober's verdict).

Ingest stores the closed part [h₁, hₙ) as run-length intervals (`spans`); the open part [hₙ, W) depends on a
watermark that moves, so readers compute it when they read (`tail`). `intervals` puts both together for a
window; `seconds_by_state` sums a window; `live_state` is the same rule at wall-clock `now`. Maintenance
windows are laid over the result by `overlay_maintenance`, also at read time, since they can be entered late.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

State = Literal["up", "degraded", "down", "unknown", "maintenance"]
STATES: tuple[State, ...] = ("up", "degraded", "down", "unknown", "maintenance")
QUALITY_FLAGS = ("black", "frozen", "obstructed")


# Tuples, not dataclasses: the rollup makes one per stored heartbeat and a frozen dataclass costs 3× to build.
class Beat(NamedTuple):
    ts: datetime
    state: State


class Timed(Protocol):
    """What the rules read of a heartbeat: a `Beat`, or a row as ingest decoded it (no copy made per row)."""

    @property
    def ts(self) -> datetime: ...
    @property
    def state(self) -> State: ...


BY_TS = attrgetter("ts")  # the sort key of a heartbeat (`Beat` or `Timed`)


class Interval(NamedTuple):
    start: datetime
    end: datetime
    state: State

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def beat_state(status: str, quality: Mapping[str, Any] | None = None) -> State:
    return state_of(status, flagged=any(bool((quality or {}).get(flag)) for flag in QUALITY_FLAGS))


def state_of(status: str, *, flagged: bool) -> State:
    """`flagged`: a quality flag (black, frozen, obstructed) is set."""
    if status == "down":
        return "down"
    if status == "degraded" or flagged:
        return "degraded"
    return "up"


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort, drop empty intervals, and join neighbours that touch and share a state."""
    out: list[Interval] = []
    for iv in sorted((i for i in intervals if i.end > i.start), key=lambda i: i.start):
        if out and out[-1].state == iv.state and out[-1].end >= iv.start:
            out[-1] = Interval(out[-1].start, max(out[-1].end, iv.end), iv.state)
        else:
            out.append(iv)
    return out


def _after(beat: Timed, until: datetime, interval: timedelta, grace: timedelta) -> list[Interval]:
    """The span from one heartbeat to the next one (or to the watermark) at `until`."""
    if until - beat.ts <= interval + grace:
        return [Interval(beat.ts, until, beat.state)]
    return [Interval(beat.ts, beat.ts + interval, beat.state), Interval(beat.ts + interval, until, "down")]


def spans(beats: Sequence[Timed], *, interval_s: float, grace_s: float | None = None) -> list[Interval]:
    """The closed part [h₁, hₙ): what ingest stores. `beats` in any order; duplicates of a ts count once."""
    interval = timedelta(seconds=interval_s)
    grace = timedelta(seconds=interval_s if grace_s is None else grace_s)
    ordered = _dedupe(beats)
    out: list[Interval] = []
    for here, there in itertools.pairwise(ordered):
        out.extend(_after(here, there.ts, interval, grace))
    return merge(out)


def tail(last: Timed, watermark: datetime | None, *, interval_s: float, grace_s: float | None = None) -> list[Interval]:
    """The open part [hₙ, W): known only up to the gateway's watermark."""
    if watermark is None or watermark <= last.ts:
        return []
    grace = timedelta(seconds=interval_s if grace_s is None else grace_s)
    return _after(last, watermark, timedelta(seconds=interval_s), grace)


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    return [
        Interval(max(i.start, start), min(i.end, end), i.state) for i in intervals if i.end > start and i.start < end
    ]


def fill_unknown(known: Sequence[Interval], start: datetime, end: datetime) -> list[Interval]:
    """Cover [start, end) exactly: the known intervals (clipped) and unknown in every hole."""
    out: list[Interval] = []
    cursor = start
    for iv in merge(clip(known, start, end)):
        if iv.start > cursor:
            out.append(Interval(cursor, iv.start, "unknown"))
        out.append(iv)
        cursor = max(cursor, iv.end)
    if cursor < end:
        out.append(Interval(cursor, end, "unknown"))
    return merge(out)


def intervals(
    beats: Sequence[Beat],
    *,
    interval_s: float,
    grace_s: float | None = None,
    watermark: datetime | None,
    start: datetime,
    end: datetime,
    maintenance: Sequence[tuple[datetime, datetime]] = (),
) -> list[Interval]:
    """Every state of one camera over [start, end), per SPEC §5."""
    ordered = _dedupe(beats)
    known = spans(ordered, interval_s=interval_s, grace_s=grace_s)
    if ordered:
        w = max(watermark, ordered[-1].ts) if watermark else ordered[-1].ts
        known += tail(ordered[-1], w, interval_s=interval_s, grace_s=grace_s)
    return overlay_maintenance(fill_unknown(known, start, end), maintenance)


def overlay_maintenance(covered: Sequence[Interval], windows: Sequence[tuple[datetime, datetime]]) -> list[Interval]:
    """Time inside a maintenance window counts as maintenance whatever the heartbeats say."""
    if not windows:
        return list(covered)
    out: list[Interval] = []
    for iv in covered:
        pieces = [iv]
        for w_start, w_end in windows:
            next_pieces = []
            for p in pieces:
                if p.state == "maintenance" or p.end <= w_start or p.start >= w_end:
                    next_pieces.append(p)
                    continue
                next_pieces += [
                    Interval(p.start, max(p.start, w_start), p.state),
                    Interval(max(p.start, w_start), min(p.end, w_end), "maintenance"),
                    Interval(min(p.end, w_end), p.end, p.state),
                ]
            pieces = [p for p in next_pieces if p.end > p.start]
        out.extend(pieces)
    return merge(out)


def seconds_by_state(covered: Iterable[Interval]) -> dict[State, float]:
    totals: dict[State, float] = dict.fromkeys(STATES, 0.0)
    for iv in covered:
        totals[iv.state] += iv.seconds
    return totals


def sum_seconds(tables: Iterable[Mapping[State, float]]) -> dict[State, float]:
    """Seconds per state of several cameras or units together (a unit's or a district's figure is a sum of
    seconds, never a mean of fractions: SPEC §5)."""
    totals: dict[State, float] = dict.fromkeys(STATES, 0.0)
    for table in tables:
        for state, value in table.items():
            totals[state] += value
    return totals


@dataclass(frozen=True)
class Figures:
    """Availability = (up + degraded) / (up + degraded + down); healthy = up / the same; coverage = known time
    (neither unknown nor maintenance) / window. None where the denominator is 0."""

    availability: float | None
    healthy: float | None
    coverage: float | None


def figures(seconds: Mapping[Any, float]) -> Figures:
    up, degraded, down = seconds.get("up", 0.0), seconds.get("degraded", 0.0), seconds.get("down", 0.0)
    known = up + degraded + down
    window = known + seconds.get("unknown", 0.0) + seconds.get("maintenance", 0.0)
    return Figures(
        availability=(up + degraded) / known if known else None,
        healthy=up / known if known else None,
        coverage=known / window if window else None,
    )


def live_state(
    last: Beat | None,
    *,
    now: datetime,
    watermark: datetime | None,
    interval_s: float,
    grace_s: float | None = None,
    gateway_silent: bool,
) -> State:
    """The state at wall-clock `now`, bounded by the gateway's watermark W (SPEC §5): unknown when the gateway is
    silent or the camera never reported; down once min(now, W) − hₙ > I + G — the gateway has delivered newer data
    without this camera, so a healthy gateway (W within seconds of now) declares it within seconds of the
    deadline, and a gateway that stopped delivering does not turn its cameras down; else hₙ's state."""
    if last is None or gateway_silent or watermark is None:
        return "unknown"
    grace = interval_s if grace_s is None else grace_s
    if (min(now, watermark) - last.ts).total_seconds() > interval_s + grace:
        return "down"
    return last.state


# The same rules for many cameras at once (a province's overview, a month per unit: 150,000 cameras), on numpy
# arrays of epoch microseconds — integers, so sums stay exact. `NEVER` stands for a missing heartbeat or watermark.
# Property tests check them against `tail` and `live_state` above.
NEVER = -(2**62)
LIVE_STATES: tuple[State, ...] = ("up", "degraded", "down", "unknown")  # index of each in `live_states`


def _overlap(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.maximum(0, np.minimum(b, hi) - np.maximum(a, lo))


def tail_micros(
    last: np.ndarray, watermark: np.ndarray, interval: np.ndarray, grace: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`tail` clipped to [lo, hi) for each camera: microseconds in hₙ's state, microseconds down."""
    known = (last != NEVER) & (watermark > last) & (watermark > lo) & (last < hi)
    within = watermark - last <= interval + grace
    in_state = np.where(within, _overlap(last, watermark, lo, hi), _overlap(last, last + interval, lo, hi))
    down = np.where(within, 0, _overlap(last + interval, watermark, lo, hi))
    return np.where(known, in_state, 0), np.where(known, down, 0)


def live_states(
    last: np.ndarray,
    last_state: np.ndarray,
    watermark: np.ndarray,
    interval: np.ndarray,
    grace: np.ndarray,
    *,
    now: int,
    gateway_silence: float,
) -> np.ndarray:
    """`live_state` of each camera, as an index into LIVE_STATES; `last_state` indexes it too. A gateway is silent
    when now − W > `gateway_silence` (microseconds)."""
    unknown = (last == NEVER) | (watermark == NEVER) | (now - watermark > gateway_silence)
    down = np.minimum(now, watermark) - last > interval + grace
    return np.where(unknown, 3, np.where(down, 2, last_state))


def _dedupe(beats: Iterable[Timed]) -> list[Timed]:
    """Sort by ts; of several heartbeats with one ts keep the first seen (they are stored once)."""
    by_ts: dict[datetime, Timed] = {}
    for b in beats:
        by_ts.setdefault(b.ts, b)
    return [by_ts[ts] for ts in sorted(by_ts)]
