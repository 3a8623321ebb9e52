"""Which incidents should be open at `now` (SPEC §6). Pure: the engine gathers the inputs and applies the result.

One evaluation compares what is true now — each camera's live state (SPEC §5 rules with the wall clock, bounded
by its gateway's watermark), each gateway's silence, whether the pipeline delivers — with the incidents already
open, and returns what to open, extend and resolve:

- **pipeline first**: while ingest is stalled the database's picture is old, so the only incident opened is
  `pipeline_stalled`; nothing camera- or gateway-related is opened or resolved from data that is not there;
- **gateway_down** when a gateway with cameras is silent longer than `gateway_silence_s` (its cameras are then
  `unknown`: no camera incident is opened or resolved for them);
- **commune_outage** when at least `outage_ratio` of a unit's active cameras, and at least `outage_min_cameras`,
  went down within `outage_window_s`: one incident listing them; the camera incidents it covers that nobody was
  told about yet are merged into it; later failures in that unit join it; it resolves when fewer than
  `outage_min_cameras` of its cameras are still down, and those still down get incidents of their own;
- **camera_down** / **camera_degraded** otherwise, resolved when the camera is up again (or the other one);
- cameras and gateways inside a maintenance window get no incident, and their open ones are resolved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.core.uptime import State

CAMERA_KINDS = ("camera_down", "camera_degraded")


@dataclass(frozen=True)
class Rules:
    outage_ratio: float = 0.5
    outage_min_cameras: int = 3
    outage_window_s: float = 120


@dataclass(frozen=True)
class CameraNow:
    camera_id: str
    unit: tuple[str, str]
    state: State  # live state (SPEC §5)
    down_since: datetime | None  # when it was declared down: last heartbeat + I + G, or the `down` verdict's ts
    in_maintenance: bool = False


@dataclass(frozen=True)
class GatewayNow:
    gateway_id: int
    silent: bool
    cameras: int
    units: tuple[tuple[str, str], ...] = ()
    in_maintenance: bool = False


@dataclass(frozen=True)
class Open:
    """An incident already open."""

    incident_id: int
    kind: str
    camera_ids: tuple[str, ...] = ()
    unit: tuple[str, str] | None = None
    gateway_id: int | None = None
    notified: bool = False


@dataclass(frozen=True)
class NewIncident:
    kind: str
    unit: tuple[str, str] | None = None
    camera_ids: tuple[str, ...] = ()
    gateway_id: int | None = None


@dataclass
class Decision:
    open: list[NewIncident] = field(default_factory=list)
    resolve: dict[int, str] = field(default_factory=dict)  # incident id → resolution
    merge: dict[int, NewIncident] = field(default_factory=dict)  # incident id → the outage it joins
    extend: dict[int, tuple[str, ...]] = field(default_factory=dict)  # outage id → its cameras now

    def __bool__(self) -> bool:
        return bool(self.open or self.resolve or self.merge or self.extend)


def decide(
    now: datetime,
    cameras: Sequence[CameraNow],
    gateways: Sequence[GatewayNow],
    open_incidents: Iterable[Open],
    *,
    pipeline_stalled: bool,
    rules: Rules = Rules(),
    unit_sizes: Mapping[tuple[str, str], int] | None = None,
) -> Decision:
    """`cameras` may leave out cameras that are up, not in maintenance and without an open incident (the
    engine does, at province scale); `unit_sizes` then gives each unit's number of cameras in service."""
    d = Decision()
    incidents = list(open_incidents)
    pipeline = [i for i in incidents if i.kind == "pipeline_stalled"]
    if pipeline_stalled:
        if not pipeline:
            d.open.append(NewIncident("pipeline_stalled"))
        return d
    for i in pipeline:
        d.resolve[i.incident_id] = "recovered"

    gateway_open = {i.gateway_id: i for i in incidents if i.kind == "gateway_down"}
    for g in gateways:
        down = g.silent and g.cameras > 0 and not g.in_maintenance
        if down and g.gateway_id not in gateway_open:
            d.open.append(NewIncident("gateway_down", unit=g.units[0] if g.units else None, gateway_id=g.gateway_id))
        elif not down and g.gateway_id in gateway_open:
            d.resolve[gateway_open[g.gateway_id].incident_id] = "maintenance" if g.in_maintenance else "recovered"

    by_camera: dict[tuple[str, str], Open] = {
        (i.kind, i.camera_ids[0]): i for i in incidents if i.kind in CAMERA_KINDS and i.camera_ids
    }
    outages = {i.unit: i for i in incidents if i.kind == "commune_outage" and i.unit is not None}
    per_unit: dict[tuple[str, str], list[CameraNow]] = defaultdict(list)
    for c in cameras:
        per_unit[c.unit].append(c)

    for unit, members in per_unit.items():
        size = unit_sizes.get(unit, len(members)) if unit_sizes is not None else len(members)
        _decide_unit(now, unit, members, size, by_camera, outages.get(unit), rules, d)
    return d


def _decide_unit(
    now: datetime,
    unit: tuple[str, str],
    members: list[CameraNow],
    size: int,
    by_camera: dict[tuple[str, str], Open],
    outage: Open | None,
    rules: Rules,
    d: Decision,
) -> None:
    state = {c.camera_id: c for c in members}
    down = [c for c in members if c.state == "down" and not c.in_maintenance]
    for c in members:
        if c.state == "degraded" and not c.in_maintenance and ("camera_degraded", c.camera_id) not in by_camera:
            d.open.append(NewIncident("camera_degraded", unit=unit, camera_ids=(c.camera_id,)))

    # Cameras that are up, or in maintenance, close their own incidents; unknown ones keep them (we do not know).
    for c in members:
        for kind in CAMERA_KINDS:
            i = by_camera.get((kind, c.camera_id))
            if i is None:
                continue
            if c.in_maintenance:
                d.resolve[i.incident_id] = "maintenance"
            elif c.state in ("up", "degraded") and (kind == "camera_down" or c.state == "up"):
                d.resolve[i.incident_id] = "recovered"
            elif kind == "camera_degraded" and c.state == "down":
                d.resolve[i.incident_id] = "went_down"

    if outage is not None:
        still = tuple(cid for cid in outage.camera_ids if cid in state and state[cid].state in ("down", "unknown"))
        joined = tuple(c.camera_id for c in down if c.camera_id not in outage.camera_ids)
        really_down = [cid for cid in outage.camera_ids if cid in state and state[cid].state == "down"]
        if len(really_down) + len(joined) < rules.outage_min_cameras and not any(
            state[cid].state == "unknown" for cid in still
        ):
            d.resolve[outage.incident_id] = "recovered"
            for cid in [*really_down, *joined]:
                if ("camera_down", cid) not in by_camera:
                    d.open.append(NewIncident("camera_down", unit=unit, camera_ids=(cid,)))
            return
        if joined:
            d.extend[outage.incident_id] = outage.camera_ids + joined
            for cid in joined:
                pending = by_camera.get(("camera_down", cid))
                if pending is not None and not pending.notified:
                    d.resolve[pending.incident_id] = "merged"
        return

    active = size - sum(1 for c in members if c.in_maintenance)
    # "Went down within the window": the cameras down now whose down times lie within the window of the latest one
    # (not of `now`, so a late tick — ingest catching up — still sees a power cut as one event).
    times = [c.down_since for c in down if c.down_since is not None]
    cutoff = (max(times) if times else now) - timedelta(seconds=rules.outage_window_s)
    recent = [c for c in down if c.down_since is not None and c.down_since >= cutoff]
    if len(recent) >= rules.outage_min_cameras and len(recent) >= rules.outage_ratio * active:
        listed = tuple(sorted(c.camera_id for c in down))
        outage_new = NewIncident("commune_outage", unit=unit, camera_ids=listed)
        d.open.append(outage_new)
        for cid in listed:
            pending = by_camera.get(("camera_down", cid))
            if pending is not None and not pending.notified:
                d.merge[pending.incident_id] = outage_new
        return

    for c in down:
        if ("camera_down", c.camera_id) not in by_camera:
            d.open.append(NewIncident("camera_down", unit=unit, camera_ids=(c.camera_id,)))


def is_flapping(changes: Sequence[datetime], now: datetime) -> bool:
    """More than 4 state changes in the last 30 minutes (SPEC §6)."""
    return sum(1 for t in changes if t > now - timedelta(minutes=30)) > 4


def is_stable(changes: Sequence[datetime], now: datetime) -> bool:
    """No state change for 15 minutes: a flapping camera's messages resume."""
    return not changes or max(changes) <= now - timedelta(minutes=15)
