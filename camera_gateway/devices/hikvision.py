"""Hikvision ISAPI: cameras, NVRs and DVRs that speak Hikvision's HTTP/XML API (SPEC §4 "Devices").

Three layers, as for every protocol (STYLE.md §12):
- pure parsers from the device's bytes to `DeviceEvent`s: `parse_alert` (one `EventNotificationAlert`),
  `parse_push` (what a device POSTs to an "HTTP listening"/alarm host: bare XML or multipart/form-data with
  pictures), `parse_channel_status` and `listed_channels` (an NVR's `InputProxy/channels/status`),
  `absent_channels` (which known channels a reply leaves out), `describe_device` (deviceInfo, for
  `pulse devices test`);
- the mapping from Hikvision's event types to `Signal`s (`_SIGNALS` and `_meaning`), in the product's words;
- the thin connection code: `session` holds `GET /ISAPI/Event/notification/alertStream` open (a never-ending
  multipart/mixed reply) and, beside it, polls an NVR's channel status; `check` asks deviceInfo.

What the field taught (and the fixtures hold): the namespace varies with firmware (hikvision.com ver10/ver20,
isapi.org, std-cgi.com, psialliance, none at all), so elements are matched by local name; current firmware sends
`videoloss`/`inactive` with `activePostCount` 0 (or empty) every ~10 s as its heartbeat, and newer ISAPI an
explicit `heartBeat`; an NVR names its IP channels 33, 34, … in alerts on many firmwares (the "IP channel" offset
of the old SDK) while `InputProxy` numbers them 1, 2, … — `ip_channel_offset` rebases the former when a device is
configured so; alarms are repeated while they last and "inactive" often never comes, so nothing here holds except
the NVR's channel status. XML is parsed with defusedxml with DTDs forbidden: a device (or whoever answers on its
address) must not make the gateway expand entities or fetch anything.

A channel deleted from the NVR is simply no longer listed by `InputProxy`, and nothing else would say it is gone: its
last reading would stand forever. So the poll remembers the channels it knows in this session — every id an earlier
reply listed, and the mapped keys (`device.channels`; an NVR's keys are InputProxy's numbers, since alerts are
rebased onto them by `ip_channel_offset`, as the README has operators map them) — and reports those a reply leaves
out as `OFFLINE` active, held, code "absent from the channel list"; listed again, a channel comes back by its own
`online`. A reply that lists no channel at all says nothing about absence: an analog DVR (or a camera) may answer
an empty list, and its mapped channels are not IP channels.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET
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
from camera_gateway.devices.multipart import MultipartReader, Part, Skipped, boundary_of

log = logging.getLogger("pulse.devices.hikvision")

ALERT_STREAM = "/ISAPI/Event/notification/alertStream"
CHANNEL_STATUS = "/ISAPI/ContentMgmt/InputProxy/channels/status"
DEVICE_INFO = "/ISAPI/System/deviceInfo"

MAX_XML = 256 * 1024  # an alert is ~1 KB; ANPR/face alerts with inline lists reach tens of KB
MAX_STREAM_PART = 4 << 20  # pictures on alertStream; a larger part is skipped (and counted) as it streams by
MAX_PUSH = 16 << 20  # a pushed alarm with its pictures, whole

# The channel's key in an alert, in the order pyhik and Home Assistant's hikvision_next read them: `channelID` on
# most firmware, `dynChannelID` on newer NVRs, `inputIOPortID` for alarm-input (IO) events.
_CHANNEL_FIELDS = ("channelID", "dynChannelID", "inputIOPortID", "dynInputIOPortID")

_SIGNALS: Mapping[str, Signal] = {
    "videoloss": Signal.VIDEO_LOSS,
    "shelteralarm": Signal.TAMPER,
    "tamperdetection": Signal.TAMPER,
    "defocus": Signal.BLUR,
    "scenechangedetection": Signal.SCENE_CHANGE,
    "diskfull": Signal.STORAGE_FAILURE,
    "diskerror": Signal.STORAGE_FAILURE,
    "recordingfailure": Signal.RECORDING_FAILURE,
    "recordingexception": Signal.RECORDING_FAILURE,
    "recordexception": Signal.RECORDING_FAILURE,
    "heartbeat": Signal.ALIVE,
}


class MalformedAlert(ValueError):
    """The device sent something this module cannot read (bad XML, hostile XML, a missing field); the reason is
    words for a log line and for `Reporter.malformed`."""


# ---------------------------------------------------------------------------------------------------- pure parsers


def parse_alert(xml: bytes, *, ip_channel_offset: int = 0) -> list[DeviceEvent]:
    """One `EventNotificationAlert` document as events.

    `ip_channel_offset` (e.g. 32): channel numbers above it are an NVR's IP channels counted from offset + 1, and
    are rebased to 1, 2, … so they match `InputProxy` and the camera names `NAME-chN`. 0 keeps the device's numbers.
    """
    root = _parse_xml(xml, "EventNotificationAlert")
    fields = {_local(child.tag): (child.text or "").strip() for child in reversed(root)}  # first occurrence wins
    return _meaning(fields, ip_channel_offset)


def parse_alert_json(body: bytes, *, ip_channel_offset: int = 0) -> list[DeviceEvent]:
    """The same alert as JSON, which newer firmware sends for some event types on the same stream or push."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedAlert(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise MalformedAlert("a JSON alert that is not an object")
    fields = {k: str(v).strip() for k, v in data.items() if isinstance(v, str | int) and not isinstance(v, bool)}
    return _meaning(fields, ip_channel_offset)


def parse_push(body: bytes, content_type: str, *, ip_channel_offset: int = 0) -> list[DeviceEvent]:
    """What a device POSTs to an alarm host: one XML (or JSON) alert, bare or as a part of multipart/form-data
    beside pictures (ignored). Raises `MalformedAlert` when no alert part can be read."""
    if len(body) > MAX_PUSH:
        raise MalformedAlert(f"a push of {len(body)} bytes is over the {MAX_PUSH}-byte bound")
    media = content_type.split(";", 1)[0].strip().lower()
    if not media.startswith("multipart/"):
        return _part_events(Part({"content-type": media}, body), ip_channel_offset)
    boundary = boundary_of(content_type)
    if boundary is None:
        raise MalformedAlert(f"a multipart push without a boundary ({content_type!r})")
    events: list[DeviceEvent] = []
    alerts = 0
    skipped: list[str] = []
    for item in MultipartReader(boundary, max_part=MAX_STREAM_PART).feed(body):
        if isinstance(item, Skipped):
            skipped.append(item.reason)  # most likely a large picture; fatal only if no alert came
            continue
        if _kind(item) in ("xml", "json"):
            alerts += 1
            events += _part_events(item, ip_channel_offset)
    if not alerts:
        raise MalformedAlert("a multipart push without an XML or JSON alert part" + "".join(f"; {s}" for s in skipped))
    return events


def parse_channel_status(xml: bytes) -> list[DeviceEvent]:
    """An NVR's `InputProxyChannelStatusList`: the NVR answered (ALIVE), and each IP channel is online or not.

    The NVR's verdict holds until the next poll says otherwise (`holds=True`). A channel without a readable
    `online` is left out: unknown is not offline.
    """
    root = _parse_xml(xml, "InputProxyChannelStatusList")
    events = [DeviceEvent(Signal.ALIVE, code="InputProxyChannelStatusList")]
    for channel, online in _channel_entries(root):
        if not _is_number(channel) or online not in ("true", "false"):
            continue
        events.append(DeviceEvent(Signal.OFFLINE, channel, active=online == "false", holds=True, code="online"))
    return events


def listed_channels(xml: bytes) -> set[str]:
    """Every IP channel id an `InputProxyChannelStatusList` lists, whether or not its `online` is readable (a
    channel with an unknown state is still there)."""
    root = _parse_xml(xml, "InputProxyChannelStatusList")
    return {channel for channel, _ in _channel_entries(root) if _is_number(channel)}


ABSENT = "absent from the channel list"


def absent_channels(known: Iterable[str], listed: Collection[str]) -> list[DeviceEvent]:
    """`OFFLINE` (active, held) for every known channel (listed earlier in the session, or mapped) that this reply
    leaves out, in channel order; none when the reply lists no channel at all (see the module docstring)."""
    if not listed:
        return []
    missing = {channel for channel in known if _is_number(channel)} - set(listed)
    return [
        DeviceEvent(Signal.OFFLINE, channel, active=True, holds=True, code=ABSENT)
        for channel in sorted(missing, key=int)
    ]


def _channel_entries(root: Element) -> list[tuple[str, str]]:
    """(id, online) of each InputProxyChannelStatus, as the device wrote them (stripped; online lower-cased)."""
    entries = []
    for entry in root:
        if _local(entry.tag) != "InputProxyChannelStatus":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in entry}
        entries.append((fields.get("id", ""), fields.get("online", "").lower()))
    return entries


def describe_device(device_info: bytes, channel_status: bytes | None = None) -> str:
    """`pulse devices test`'s answer in words, e.g. "Hikvision DS-7608NI-K2, firmware V4.30.085, 8 channels
    (7 online)"; `channel_status` is the NVR's InputProxy status, None for a camera."""
    root = _parse_xml(device_info, "DeviceInfo")
    fields = {_local(child.tag): (child.text or "").strip() for child in root}
    words = [f"Hikvision {fields.get('model') or fields.get('deviceType') or 'device'}"]
    if fields.get("firmwareVersion"):
        words.append(f"firmware {fields['firmwareVersion']}")
    if channel_status is not None:
        channels = [e for e in parse_channel_status(channel_status) if e.signal is Signal.OFFLINE]
        online = sum(not e.active for e in channels)
        words.append(f"{len(channels)} channel{'s' if len(channels) != 1 else ''} ({online} online)")
    return ", ".join(words)


def _parse_xml(xml: bytes, root_name: str) -> Element:
    if len(xml) > MAX_XML:
        raise MalformedAlert(f"an XML document of {len(xml)} bytes is over the {MAX_XML}-byte bound")
    try:
        root = SafeET.fromstring(xml, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:  # a DTD, entities, external references: refused, never expanded
        raise MalformedAlert(f"hostile XML refused ({exc.__class__.__name__})") from None
    except ParseError as exc:
        raise MalformedAlert(f"not well-formed XML ({exc})") from None
    if _local(root.tag) != root_name:
        raise MalformedAlert(f"expected <{root_name}>, got <{_local(root.tag)}>")
    return root


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit() alone takes "¹" and "٣", which int() refuses


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""  # comments and PIs have no str tag


# ------------------------------------------------------------------------------------------------- pure mapping


def _meaning(fields: Mapping[str, str], ip_channel_offset: int) -> list[DeviceEvent]:
    """Hikvision's event fields in the product's words (SPEC §4): see `_SIGNALS` and the module docstring."""
    code = fields.get("eventType", "")
    if not code:
        raise MalformedAlert("an alert without eventType")
    # No eventState: a device that only posts while the event lasts (pyhik reads it the same way).
    active = fields.get("eventState", "active").lower() != "inactive"
    count = fields.get("activePostCount", "")
    count_n = int(count) if _is_number(count) else 0  # empty on some firmware: the same as 0
    channel = _channel(fields, ip_channel_offset)
    signal = _SIGNALS.get(code.lower(), Signal.OTHER)
    if signal is Signal.VIDEO_LOSS and not active and (count_n == 0 or channel is None):
        # The device's heartbeat, not a channel's news. Its channel (1 on a camera) is named so that a camera
        # that only ever sends heartbeats still has its channel known, and so its own heartbeats.
        return [DeviceEvent(Signal.ALIVE, channel, code=code)]
    if signal is Signal.ALIVE:
        return [DeviceEvent(Signal.ALIVE, channel, code=code)]
    return [DeviceEvent(signal, channel, active=active, holds=False, code=code)]


def _channel(fields: Mapping[str, str], ip_channel_offset: int) -> str | None:
    for name in _CHANNEL_FIELDS:
        value = fields.get(name, "")
        if _is_number(value):
            number = int(value)
            if number == 0:
                return None  # channel 0: the device itself (channels count from 1)
            if ip_channel_offset and number > ip_channel_offset:
                number -= ip_channel_offset
            return str(number)
    return None


def _kind(part: Part) -> str:
    """xml, json, image or other: by Content-Type, else by the part's name, else by its first byte (firmware
    leaves out any of them)."""
    media = part.content_type
    disposition = part.headers.get("content-disposition", "").lower()
    if media in ("application/xml", "text/xml") or media.endswith("+xml"):
        return "xml"
    if media == "application/json":
        return "json"
    if media.startswith("image/") or any(ext in disposition for ext in (".jpg", ".jpeg", ".png")):
        return "image"
    if ".xml" in disposition:
        return "xml"
    head = part.body.lstrip()[:1]
    return "xml" if head == b"<" else "json" if head == b"{" else "other"


def _part_events(part: Part, ip_channel_offset: int) -> list[DeviceEvent]:
    kind = _kind(part)
    if kind == "xml":
        return parse_alert(part.body, ip_channel_offset=ip_channel_offset)
    if kind == "json":
        return parse_alert_json(part.body, ip_channel_offset=ip_channel_offset)
    if kind == "image":
        return []
    raise MalformedAlert(f"a part of type {part.content_type or 'unknown'!r} that is not an alert")


# ---------------------------------------------------------------------------------------------- connection code


async def session(device: DeviceConfig, client: httpx.AsyncClient, reporter: Reporter) -> None:
    """Hold the alert stream open until it fails (always with a `DeviceError`); poll an NVR's channels beside it.

    Device options: `stall_s` (60) — no byte within it and the device is unreachable (a heartbeat comes every
    ~10 s); `nvr` (unset) — True polls channel status, False never, unset polls until the device says it has no
    InputProxy (404); `poll_s` (60); `ip_channel_offset` (0) — see `parse_alert`.
    """
    auth = httpx.DigestAuth(device.username, device.secret)
    stall_s = float(device.option("stall_s", 60))
    offset = int(device.option("ip_channel_offset", 0))
    timeout = httpx.Timeout(stall_s, connect=min(10.0, stall_s))
    poller: asyncio.Task[None] | None = None
    try:
        async with client.stream("GET", device.url.rstrip("/") + ALERT_STREAM, auth=auth, timeout=timeout) as reply:
            check_status(reply, "alertStream")
            boundary = boundary_of(reply.headers.get("content-type", ""))
            if boundary is None:
                raise ProtocolError(f"alertStream: not a multipart stream ({reply.headers.get('content-type')!r})")
            reporter.connected()
            if device.option("nvr", None) is not False:
                poller = asyncio.create_task(_poll_channels(device, client, reporter, auth))
            reader = MultipartReader(boundary, max_part=MAX_STREAM_PART)
            async for chunk in reply.aiter_bytes():
                await _report(reader.feed(chunk), reporter, offset)
        raise Unreachable("alertStream: the device ended the stream")
    except DeviceError:
        raise
    except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
        raise Unreachable(f"alertStream: the connection broke ({exc.__class__.__name__})") from None
    except (httpx.HTTPError, OSError) as exc:
        raise http_error(exc, "alertStream") from None
    finally:
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)


async def _report(items: list[Part | Skipped], reporter: Reporter, offset: int) -> None:
    """One chunk's parts as one batch; a bad part is counted and the stream goes on."""
    batch: list[DeviceEvent] = []
    for item in items:
        if isinstance(item, Skipped):
            reporter.malformed(f"alertStream: {item.reason}")
            continue
        try:
            batch += _part_events(item, offset)
        except MalformedAlert as exc:
            reporter.malformed(f"alertStream: {exc}")
    if batch:
        await reporter.events(batch)


async def _poll_channels(device: DeviceConfig, client: httpx.AsyncClient, reporter: Reporter, auth: httpx.Auth) -> None:
    """Every `poll_s`, the NVR's own verdict on each IP channel, and which known channels it no longer lists.
    Never raises: the stream is the connection's state, and a failed poll is retried at the next period."""
    poll_s = float(device.option("poll_s", 60))
    url = device.url.rstrip("/") + CHANNEL_STATUS
    known = {channel for channel in device.channels if _is_number(channel)}
    while True:
        try:
            reply = await client.get(url, auth=auth, timeout=min(10.0, poll_s * 2))
            if reply.status_code in (400, 403, 404, 501) and device.option("nvr", None) is None:
                log.info("device %s: no InputProxy (HTTP %s): not an NVR, not polling", device.name, reply.status_code)
                return
            check_status(reply, "channel status")
            events = parse_channel_status(reply.content)
            listed = listed_channels(reply.content)
            events += absent_channels(known, listed)
            known |= listed
            await reporter.events(events)
        except MalformedAlert as exc:
            reporter.malformed(f"channel status: {exc}")
        except (httpx.HTTPError, OSError, DeviceError) as exc:
            log.warning("device %s: %s", device.name, http_error(exc, "channel status"))
        except Exception:  # a bug here must not pass unseen, nor end the stream beside it
            log.exception("device %s: channel status poll failed", device.name)
        await asyncio.sleep(poll_s)


async def check(device: DeviceConfig, client: httpx.AsyncClient) -> str:
    """What the device is, in words (for `pulse devices test`); raises a `DeviceError`."""
    auth = httpx.DigestAuth(device.username, device.secret)
    base = device.url.rstrip("/")
    try:
        info = await client.get(base + DEVICE_INFO, auth=auth, timeout=10.0)
        check_status(info, "deviceInfo")
        status = await client.get(base + CHANNEL_STATUS, auth=auth, timeout=10.0)
    except (httpx.HTTPError, OSError) as exc:
        raise http_error(exc, "deviceInfo") from None
    try:
        return describe_device(info.content, status.content if status.status_code == 200 else None)
    except MalformedAlert as exc:
        raise ProtocolError(f"deviceInfo: {exc}") from None
