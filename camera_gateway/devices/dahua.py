"""Dahua, Amcrest and KBVision cameras and NVRs: their HTTP event stream, read as `DeviceEvent`s.

The device is asked once, with digest authentication, for every event it has:
`GET /cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=N`. It answers a never-ending
`multipart/x-mixed-replace; boundary=myboundary` whose parts are short text:

    --myboundary
    Content-Type: text/plain
    Content-Length: 39

    Code=VideoLoss;action=Start;index=0

A part may carry several `Code=` records (one per line), a record may end in `;data={…}` with JSON that runs over
several lines and holds `;` and `=` of its own, and every N seconds a part says only `Heartbeat`. Content-Length is
wrong on some firmware; `multipart.MultipartReader` copes with that (a boundary that comes first ends the part).

Two halves, as for every protocol here:
- `parse_part(body)` is pure: the bytes of one part in, `DeviceEvent`s out, `MalformedPart` (a ValueError) for a
  part that is not a heartbeat and not `Code=` records. A record is its `Code=…;action=…;index=…` head, then
  everything after `;data=` up to the next line that starts with `Code=` is the data (JSON never has a raw
  newline inside a string, so no JSON line can start a record). Only `VideoAbnormalDetection` needs its data; it
  is read with a size bound, and data that is not JSON is ignored, never fatal for the event.
- `session(...)` and `check(...)` are the thin connection code over `connection` (see its docstring).

What the codes mean (`tracker` decides what that means for heartbeats):
- `Heartbeat` → ALIVE; `VideoLoss` → VIDEO_LOSS; `VideoBlind` → TAMPER; `VideoUnFocus` → BLUR;
- `VideoAbnormalDetection` → by its data's `Type`: `SceneChange` (and `CameraMoving`) → SCENE_CHANGE,
  `TooDark` → TOO_DARK, `TooBright` (and `TooLight`) → TOO_BRIGHT, anything else → SCENE_CHANGE. A `Stop` whose
  data does not name the type ends all three, so no alarm is left on by a device that omits it;
- `StorageNotExist`, `StorageFailure`, `StorageLowSpace` → STORAGE_FAILURE for the whole device (channel None);
- every other code (motion, line crossing, NTP adjust, new file …) → OTHER: proof of life only.
`action=Start` → active, holds; `Stop` → not active, holds; `Pulse` → active, does not hold (clears itself).

Channels: Dahua's `index` is 0-based, so the channel key is `str(index + 1)`: index 0 is channel "1", the first
camera, matching the channel numbers an installer sees in the NVR's menus and SPEC §4's `NAME-chN`. A negative
index (seen on device-wide events) means the whole device.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from camera_gateway.devices.connection import (
    DeviceConfig,
    DeviceError,
    ProtocolError,
    Reporter,
    Unreachable,
    check_status,
    http_error,
)
from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.multipart import MultipartReader, Skipped, boundary_of

ATTACH_PATH = "/cgi-bin/eventManager.cgi"
MAGIC_BOX = "/cgi-bin/magicBox.cgi"
MAX_DATA = 64 * 1024  # a VideoAbnormalDetection's data is a few hundred bytes; an IVS event's a few KiB

_SIGNALS = {
    "VideoLoss": Signal.VIDEO_LOSS,
    "VideoBlind": Signal.TAMPER,
    "VideoUnFocus": Signal.BLUR,
    "StorageNotExist": Signal.STORAGE_FAILURE,
    "StorageFailure": Signal.STORAGE_FAILURE,
    "StorageLowSpace": Signal.STORAGE_FAILURE,
}
_DEVICE_WIDE = frozenset({"StorageNotExist", "StorageFailure", "StorageLowSpace"})
_ABNORMAL = "VideoAbnormalDetection"
_ABNORMAL_TYPES = {
    "scenechange": Signal.SCENE_CHANGE,
    "cameramoving": Signal.SCENE_CHANGE,
    "toodark": Signal.TOO_DARK,
    "toobright": Signal.TOO_BRIGHT,
    "toolight": Signal.TOO_BRIGHT,
}
_ABNORMAL_ALL = (Signal.SCENE_CHANGE, Signal.TOO_DARK, Signal.TOO_BRIGHT)
_ACTIONS = {"Start": (True, True), "Stop": (False, True), "Pulse": (True, False)}
_RECORD = re.compile(r"^[ \t]*Code=", re.MULTILINE)
_INDEX = re.compile(r"^-?\d{1,6}$")


class MalformedPart(ValueError):
    """A part that is neither a heartbeat nor `Code=` records; the message says what was wrong."""


def parse_part(body: bytes) -> list[DeviceEvent]:
    """The events in one part of the event stream (see the module docstring for the mapping). Pure."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise MalformedPart("empty part")
    if text.lower() == "heartbeat":
        return [DeviceEvent(Signal.ALIVE, code="Heartbeat")]
    starts = [m.start() for m in _RECORD.finditer(text)]
    if not starts:
        raise MalformedPart(f"no Code= record in the part: {_excerpt(text)!r}")
    if text[: starts[0]].strip():
        raise MalformedPart(f"text before the first Code= record: {_excerpt(text[: starts[0]])!r}")
    events: list[DeviceEvent] = []
    for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
        events.extend(_record(text[begin:end].strip()))
    return events


def _record(record: str) -> list[DeviceEvent]:
    head, has_data, data = record.partition(";data=")
    fields: dict[str, str] = {}
    for item in head.split(";"):
        if not item.strip():
            continue  # a trailing ';'
        name, eq, value = item.partition("=")
        if not eq:
            raise MalformedPart(f"{item.strip()!r} is not name=value in {_excerpt(record)!r}")
        fields[name.strip()] = value.strip()
    code = fields.get("Code", "")
    if not code:
        raise MalformedPart(f"empty Code in {_excerpt(record)!r}")
    action = fields.get("action")
    if action not in _ACTIONS:
        raise MalformedPart(f"{code}: action {action!r} is not Start, Stop or Pulse")
    active, holds = _ACTIONS[action]
    index = fields.get("index")
    if index is not None and not _INDEX.match(index):
        raise MalformedPart(f"{code}: index {index!r} is not a number")
    channel = None if index is None or int(index) < 0 or code in _DEVICE_WIDE else str(int(index) + 1)
    if code == _ABNORMAL:
        signals = _abnormal_signals(_data(data) if has_data else None, active)
    else:
        signals = (_SIGNALS.get(code, Signal.OTHER),)
    return [DeviceEvent(s, channel=channel, active=active, holds=holds, code=code) for s in signals]


def _abnormal_signals(data: Any, active: bool) -> tuple[Signal, ...]:
    kind = data.get("Type") if isinstance(data, dict) else None
    if isinstance(kind, list) and kind:  # some firmware lists the kinds
        kind = kind[0]
    if not isinstance(kind, str):
        return (Signal.SCENE_CHANGE,) if active else _ABNORMAL_ALL
    return (_ABNORMAL_TYPES.get(kind.strip().lower(), Signal.SCENE_CHANGE),)


def _data(raw: str) -> Any:
    """The record's data as JSON, or None when it is too big or not JSON (the event stands without it)."""
    raw = raw.strip()
    if not raw or len(raw) > MAX_DATA:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _excerpt(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# --- connection -------------------------------------------------------------------------------------------------


def attach_url(device: DeviceConfig) -> str:
    heartbeat = int(device.option("heartbeat_s", 10))
    return f"{device.url.rstrip('/')}{ATTACH_PATH}?action=attach&codes=[All]&heartbeat={heartbeat}"


async def session(device: DeviceConfig, client: httpx.AsyncClient, reporter: Reporter) -> None:
    """One subscription to the event stream, until it ends: always by raising a `DeviceError`."""
    heartbeat = int(device.option("heartbeat_s", 10))
    stall_s = float(device.option("stall_s", 3 * heartbeat + 5))
    timeout = httpx.Timeout(client.timeout.connect, read=stall_s, write=client.timeout.write, pool=client.timeout.pool)
    auth = httpx.DigestAuth(device.username, device.secret)
    try:
        async with client.stream("GET", attach_url(device), auth=auth, timeout=timeout) as response:
            check_status(response, "event stream")
            boundary = boundary_of(response.headers.get("content-type", ""))
            if boundary is None:
                kind = response.headers.get("content-type", "none")
                raise ProtocolError(f"event stream: the answer is not multipart (Content-Type: {kind})")
            reporter.connected()
            reader = MultipartReader(boundary)
            async for chunk in response.aiter_bytes():
                for item in reader.feed(chunk):
                    if isinstance(item, Skipped):
                        reporter.malformed(item.reason)
                        continue
                    try:
                        events = parse_part(item.body)
                    except MalformedPart as exc:
                        reporter.malformed(str(exc))
                        continue
                    await reporter.events(events)
                if reader.ended:
                    break
    except DeviceError:
        raise
    except (httpx.HTTPError, OSError) as exc:
        raise http_error(exc, "event stream") from exc
    raise Unreachable("event stream: the device ended the stream")


async def check(device: DeviceConfig, client: httpx.AsyncClient) -> str:
    """What the device is, in words: "Dahua DH-IPC-HFW1230S, software 2.800.0000000.25.R (build 2020-03-18)"."""
    auth = httpx.DigestAuth(device.username, device.secret)
    base = device.url.rstrip("/") + MAGIC_BOX

    async def ask(action: str, what: str, *, required: bool = True) -> dict[str, str]:
        try:
            response = await client.get(f"{base}?action={action}", auth=auth)
        except httpx.HTTPError as exc:
            raise http_error(exc, what) from exc
        if not required and response.status_code not in (401, 403) and response.status_code >= 400:
            return {}  # older firmware has no such question; it is not an error
        check_status(response, what)
        return _key_values(response.text)

    kind = (await ask("getDeviceType", "device type")).get("type", "unknown model")
    version = (await ask("getSoftwareVersion", "software version")).get("version", "")
    inputs = await ask("getProductDefinition&name=MaxRemoteInputChannels", "channels", required=False)
    words = f"Dahua {kind}"
    if version:
        number, _, build = version.partition(",build:")
        words += f", software {number.strip()}" + (f" (build {build.strip()})" if build.strip() else "")
    channels = next((v for k, v in inputs.items() if k.endswith("MaxRemoteInputChannels")), "")
    if channels.isascii() and channels.isdigit() and int(channels) > 0:
        words += f", {int(channels)} IP channels"
    return words


def _key_values(text: str) -> dict[str, str]:
    """`key=value` lines, the way magicBox.cgi answers."""
    pairs = (line.partition("=") for line in text.splitlines())
    return {k.strip(): v.strip() for k, eq, v in pairs if eq}
