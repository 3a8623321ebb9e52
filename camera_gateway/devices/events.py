"""What a device says, in the product's words: the common output of every protocol's pure parser. Pure.

A protocol parser turns the device's own wire format (ISAPI XML, Dahua's key=value parts, ONVIF notification
messages, a cloud's JSON) into `DeviceEvent`s; `tracker` alone decides what they mean for a camera's heartbeats
(SPEC §4), so no protocol module has an opinion about uptime.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Signal(StrEnum):
    ALIVE = "alive"  # the device proved it is alive (a heartbeat part, an answered poll); no alarm
    VIDEO_LOSS = "video_loss"  # the channel has no video → down
    OFFLINE = "offline"  # the NVR or the cloud says the channel/camera is offline → down
    TAMPER = "tamper"  # lens covered or blocked → degraded, obstructed
    BLUR = "blur"  # out of focus → degraded
    TOO_DARK = "too_dark"  # → degraded
    TOO_BRIGHT = "too_bright"  # → degraded
    SCENE_CHANGE = "scene_change"  # moved or covered → degraded, obstructed
    UPGRADING = "upgrading"  # a cloud camera installing firmware: alive, not serving video → degraded
    STORAGE_FAILURE = "storage_failure"  # disk missing, failed or full → metrics.storage_ok = false
    RECORDING_FAILURE = "recording_failure"  # → metrics.recording = false
    OTHER = "other"  # anything else the device reports (motion, line crossing, reboot …): proof of life only


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One thing a device said.

    `channel` is the device's own channel key as text ("2", "34" for an NVR's IP channel, a cloud device's
    serial); None means the whole device (a disk alarm, a heartbeat). `active` False ends an alarm.
    `holds` True: the alarm stays until the device says it ended (Dahua Start/Stop, ONVIF property state, an
    NVR's channel status poll); False: it clears itself unless repeated within the hold time, because many
    devices announce an ongoing alarm again and again and never say "inactive" (Hikvision, pushed alarms).
    `code` is the device's own name for it ("videoloss", "VideoBlind", "tns1:VideoSource/SignalLoss"), for logs.
    """

    signal: Signal
    channel: str | None = None
    active: bool = True
    holds: bool = False
    code: str = ""
