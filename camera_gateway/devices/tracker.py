"""What a device's events mean for its cameras' heartbeats (SPEC §4 "Devices", §5). Pure: time is passed in.

A device's cameras get heartbeats only while the device proves it is alive, so a device that stops talking
produces none and its cameras go `down` by SPEC §5 exactly like a camera that stops pushing — while the
gateway's own keep-alive moves the watermark. There is no second rule for the same thing.

- Every event the device sends is a proof of life at the moment the gateway received it (`observe(…, at)`).
  At each proof, each channel gets a heartbeat stamped with that moment if its reading changed or if the
  camera's interval has passed since its last one; a device heartbeat every 10 s therefore gives one heartbeat a
  minute per camera, and a state change gives one at once.
- A channel's reading: `down` while video loss or "offline" is active; else `degraded` while a picture alarm
  (tamper, blur, too dark/bright, scene change, upgrading) is active, with `quality.obstructed` for tamper and
  scene change; `metrics.storage_ok` / `metrics.recording` false while a storage or recording failure is active
  on the channel or the whole device. Otherwise `ok`.
- Alarms that do not hold (`DeviceEvent.holds` False) clear themselves `hold_s` after they were last repeated;
  the clearing is seen at the next proof of life (never on a silent device's behalf).
The time stamped is the gateway's clock when the event arrived, not the device's: cameras' clocks in the field
are often hours off, and these events are live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from camera_gateway.devices.events import DeviceEvent, Signal

_DOWN = frozenset({Signal.VIDEO_LOSS, Signal.OFFLINE})
_DEGRADED = frozenset(
    {Signal.TAMPER, Signal.BLUR, Signal.TOO_DARK, Signal.TOO_BRIGHT, Signal.SCENE_CHANGE, Signal.UPGRADING}
)
_OBSTRUCTED = frozenset({Signal.TAMPER, Signal.SCENE_CHANGE})
_ALARMS = _DOWN | _DEGRADED | {Signal.STORAGE_FAILURE, Signal.RECORDING_FAILURE}


class Reading(NamedTuple):
    status: str  # ok | degraded | down
    quality: tuple[tuple[str, Any], ...] = ()
    metrics: tuple[tuple[str, Any], ...] = ()


class Beat(NamedTuple):
    """A heartbeat due for one channel of the device."""

    channel: str
    ts: datetime
    reading: Reading


@dataclass
class _Alarm:
    last_seen: datetime
    holds: bool


@dataclass
class DeviceTracker:
    hold_s: float = 60.0
    # (channel or None, signal) → the alarm while it is on
    alarms: dict[tuple[str | None, Signal], _Alarm] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)  # every channel the device has spoken of or that is mapped
    last_beat: dict[str, tuple[datetime, Reading]] = field(default_factory=dict)
    last_heard: datetime | None = None

    def observe(
        self, events: Iterable[DeviceEvent], at: datetime, intervals: Mapping[str, float] | None = None
    ) -> list[Beat]:
        """Apply what the device said at `at` and return the heartbeats due now.

        `intervals` gives each channel's expected heartbeat interval in seconds (default 60); channels named
        there are known even before the device mentions them.
        """
        intervals = intervals or {}
        self.channels.update(intervals)
        for event in events:
            if event.channel is not None:
                self.channels.add(event.channel)
            if event.signal not in _ALARMS:
                continue
            key = (event.channel, event.signal)
            if event.active:
                self.alarms[key] = _Alarm(at, event.holds)
            else:
                self.alarms.pop(key, None)
        self.last_heard = at if self.last_heard is None else max(self.last_heard, at)
        return self._due(at, intervals)

    def reading(self, channel: str, at: datetime) -> Reading:
        active = self._active(at)
        on = {s for (ch, s) in active if ch == channel} | {s for (ch, s) in active if ch is None}
        status = "down" if on & _DOWN else "degraded" if on & _DEGRADED else "ok"
        quality = (("obstructed", True),) if status != "down" and on & _OBSTRUCTED else ()
        metrics = tuple(
            (name, False)
            for name, signal in (("recording", Signal.RECORDING_FAILURE), ("storage_ok", Signal.STORAGE_FAILURE))
            if signal in on
        )
        return Reading(status, quality, metrics)

    def _active(self, at: datetime) -> set[tuple[str | None, Signal]]:
        hold = timedelta(seconds=self.hold_s)
        for key in [k for k, a in self.alarms.items() if not a.holds and at - a.last_seen > hold]:
            del self.alarms[key]
        return set(self.alarms)

    def _due(self, at: datetime, intervals: Mapping[str, float]) -> list[Beat]:
        beats = []
        for channel in sorted(self.channels, key=_channel_order):
            reading = self.reading(channel, at)
            last = self.last_beat.get(channel)
            interval = timedelta(seconds=intervals.get(channel, 60.0))
            if last is None or last[1] != reading or at - last[0] >= interval:
                if last is not None and at <= last[0]:
                    continue  # never two heartbeats of one camera at one instant, nor one going back
                self.last_beat[channel] = (at, reading)
                beats.append(Beat(channel, at, reading))
        return beats


def _channel_order(channel: str) -> tuple[int, int | str]:
    return (0, int(channel)) if channel.isascii() and channel.isdigit() else (1, channel)
