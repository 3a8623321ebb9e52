"""ONVIF devices: a PullPoint subscription, pulled and renewed, plus a liveness poll (SPEC §4 "Devices").

The SOAP work is onvif-zeep-async's (`ONVIFCamera`, its WSDLs, WS-UsernameToken digest, its own aiohttp
transport — so the gateway's httpx client is not used here); the meaning of a message is `onvif_events`' (pure);
this module is the thin loop between them, shaped like Home Assistant's ONVIF integration:

- connect: `update_xaddrs()` (GetSystemDateAndTime first, so a camera whose clock is hours off still accepts our
  WS-UsernameToken — `adjust_time`, device option, default on — then GetServices/GetCapabilities);
- `CreatePullPointSubscription` for `subscription_s` (default 600 s, Home Assistant's 10 minutes); the device
  accepting it is the proof that the credentials work, so `reporter.connected()` follows it;
- then the Media service's `GetVideoSources`, once: the first batch is one `ALIVE` per video source token, so
  every camera of the device is known (and gets heartbeats) from the start — a quiet camera never names its token
  in an event, and the token is the channel key (`onvif_events.channel_of`). A device without a media service,
  or whose call faults or fails, is logged at info and the session carries on (events still name channels);
- then one step at a time: `Renew` when 80 % of the lease the device granted has passed (its own
  TerminationTime − CurrentTime, so its clock does not matter); `GetSystemDateAndTime` every `poll_s` (default
  60 s) → `ALIVE`; otherwise `PullMessages` (limit 100) waiting at most `pull_timeout_s` (default 60 s) and never
  past the next renewal or poll. Every answered pull is a proof of life (`ALIVE`), with the parsed messages.
- a device that lists no events service is polled only (GetDeviceInformation once to prove the password, its
  video sources as above, then GetSystemDateAndTime every `poll_s`): liveness is still worth having from it;
- any failure ends the session with a typed `DeviceError` (`run_forever` backs off); on the way out the
  subscription is dropped (Unsubscribe, best effort) and every aiohttp session closed.

Why not the library's `PullPointManager`: it renews from a background timer with a 60 s floor and, when renewal
fails, only calls a callback and retries every 40 s; here a failure must end the session with its reason, and
renewing in the same loop as pulling keeps the whole lifecycle in one visible sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import onvif as onvif_lib  # the onvif-zeep-async package (absolute import: this module's own name is not it)
import zeep.exceptions
from onvif.util import normalize_url

from camera_gateway.devices.connection import (
    AuthFailed,
    DeviceConfig,
    DeviceError,
    ProtocolError,
    Reporter,
    Unreachable,
)
from camera_gateway.devices.events import DeviceEvent, Signal
from camera_gateway.devices.onvif_events import parse_notification

log = logging.getLogger("pulse.devices.onvif")

_PULLPOINT_NS = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
_MESSAGE_LIMIT = 100
_RENEW_AT = 0.8  # of the granted lease, as onvif-zeep-async and Home Assistant do
_ALIVE = DeviceEvent(Signal.ALIVE)
_SOURCES_TIMEOUT_S = 10.0  # GetVideoSources is a nicety: a device slow to answer it must not hold the session


async def session(device: DeviceConfig, client: httpx.AsyncClient, reporter: Reporter) -> None:
    """One subscription's life (or, on a device without events, one polling run); ends only by raising a
    `DeviceError` or being cancelled."""
    del client  # onvif-zeep-async brings its own aiohttp transport
    camera = _camera(device)
    subscription: Any = None
    try:
        await _call(camera.update_xaddrs(), "connect")
        devicemgmt = await camera.create_devicemgmt_service()
        try:
            events = await camera.create_events_service()
        except onvif_lib.ONVIFError:  # the device lists no events service: liveness is all it can give
            await _poll_only(device, reporter, camera, devicemgmt)
            return
        subscription, pullpoint, lease_s = await _subscribe(camera, events, device)
        reporter.connected()
        await _report_video_sources(device, reporter, camera)
        await _pull_loop(device, reporter, camera, devicemgmt, subscription, pullpoint, lease_s)
    finally:
        if subscription is not None:
            with contextlib.suppress(Exception):  # a courtesy: the lease lapses on its own anyway
                async with asyncio.timeout(5):
                    await subscription.Unsubscribe()
        await camera.close()


async def check(device: DeviceConfig, client: httpx.AsyncClient) -> str:
    """GetDeviceInformation → "ONVIF Manufacturer Model, firmware X"."""
    del client
    camera = _camera(device)
    try:
        await _call(camera.update_xaddrs(), "connect")
        devicemgmt = await camera.create_devicemgmt_service()
        info = await _call(devicemgmt.GetDeviceInformation(), "GetDeviceInformation")
        return f"ONVIF {info.Manufacturer} {info.Model}, firmware {info.FirmwareVersion}"
    finally:
        await camera.close()


def _camera(device: DeviceConfig) -> onvif_lib.ONVIFCamera:
    url = urlsplit(device.url)
    https = url.scheme == "https"
    host = url.hostname or ""
    return onvif_lib.ONVIFCamera(
        f"https://{host}" if https else host,
        url.port or (443 if https else 80),
        device.username,
        device.secret,
        no_cache=True,  # the WSDLs are local files; zeep's sqlite cache would write into $HOME
        adjust_time=bool(device.option("adjust_time", True)),
    )


async def _poll_only(device: DeviceConfig, reporter: Reporter, camera: onvif_lib.ONVIFCamera, devicemgmt: Any) -> None:
    """A device without an events service (cheap cameras, encoders): GetDeviceInformation proves the password,
    its video sources name its cameras, then GetSystemDateAndTime every `poll_s` proves it is alive."""
    await _call(devicemgmt.GetDeviceInformation(), "GetDeviceInformation")
    reporter.connected()
    await _report_video_sources(device, reporter, camera)
    poll_s = float(device.option("poll_s", 60))
    while True:
        await _call(devicemgmt.GetSystemDateAndTime(), "GetSystemDateAndTime")
        await reporter.events([_ALIVE])
        await asyncio.sleep(poll_s)


async def _report_video_sources(device: DeviceConfig, reporter: Reporter, camera: onvif_lib.ONVIFCamera) -> None:
    """One `ALIVE` per video source token (the media service answering is itself a proof of life). Never raises:
    without the tokens the session still works, its channels named only by events."""
    try:
        async with asyncio.timeout(_SOURCES_TIMEOUT_S):
            media = await camera.create_media_service()
            sources = await _call(media.GetVideoSources(), "GetVideoSources")
    except onvif_lib.ONVIFError:  # raised by create_media_service: the device lists no media service
        log.info("device %s: no media service; channels are named by events only", device.name)
        return
    except TimeoutError:
        log.info("device %s: GetVideoSources: no answer in time; channels are named by events only", device.name)
        return
    except DeviceError as exc:  # a fault (not supported, not allowed) or a failed exchange
        log.info("device %s: %s; channels are named by events only", device.name, exc)
        return
    tokens = video_source_tokens(sources)
    if tokens:
        await reporter.events([DeviceEvent(Signal.ALIVE, channel=token) for token in tokens])


def video_source_tokens(sources: Any) -> list[str]:
    """The tokens of a GetVideoSources answer (zeep's list of tt:VideoSource), in the device's order, verbatim —
    the same text events carry as the channel key. Sources without a token are left out."""
    tokens: list[str] = []
    for source in sources or []:
        token = getattr(source, "token", None)
        if isinstance(token, str) and token and token not in tokens:
            tokens.append(token)
    return tokens


async def _subscribe(camera: onvif_lib.ONVIFCamera, events: Any, device: DeviceConfig) -> tuple[Any, Any, float]:
    """CreatePullPointSubscription; returns the subscription-manager and pull-point services and the lease."""
    interval = dt.timedelta(seconds=float(device.option("subscription_s", 600)))
    request = {"InitialTerminationTime": camera.get_next_termination_time(interval)}
    result = await _call(events.CreatePullPointSubscription(request), "CreatePullPointSubscription")
    address = normalize_url(result.SubscriptionReference.Address._value_1)
    camera.xaddrs[_PULLPOINT_NS] = camera.rewrite_url(address)
    subscription = await camera.create_subscription_service("PullPointSubscription")
    pullpoint = await camera.create_pullpoint_service()
    if camera.has_broken_relative_time(interval, result.CurrentTime, result.TerminationTime):
        # the device misread "PT600S"; the library now sends an absolute time instead
        result = await _call(subscription.Renew(camera.get_next_termination_time(interval)), "Renew")
    return subscription, pullpoint, _lease_s(result, interval)


async def _pull_loop(
    device: DeviceConfig,
    reporter: Reporter,
    camera: onvif_lib.ONVIFCamera,
    devicemgmt: Any,
    subscription: Any,
    pullpoint: Any,
    lease_s: float,
) -> None:
    interval = dt.timedelta(seconds=float(device.option("subscription_s", 600)))
    poll_s = float(device.option("poll_s", 60))
    # onvif-zeep-async reads a pull point's answer for at most 90 s: a longer wait would always time out
    pull_timeout_s = min(float(device.option("pull_timeout_s", 60)), 80.0)
    loop = asyncio.get_running_loop()
    renew_at = loop.time() + lease_s * _RENEW_AT
    poll_at = loop.time() + poll_s
    while True:
        now = loop.time()
        if now >= renew_at:
            result = await _call(subscription.Renew(camera.get_next_termination_time(interval)), "Renew")
            renew_at = now + _lease_s(result, interval) * _RENEW_AT
        if now >= poll_at:
            await _call(devicemgmt.GetSystemDateAndTime(), "GetSystemDateAndTime")
            await reporter.events([_ALIVE])
            poll_at = now + poll_s
        wait_s = max(1, int(min(pull_timeout_s, renew_at - now, poll_at - now)))
        request = {"MessageLimit": _MESSAGE_LIMIT, "Timeout": dt.timedelta(seconds=wait_s)}
        response = await _call(pullpoint.PullMessages(request), "PullMessages")
        events = [_ALIVE]
        for message in getattr(response, "NotificationMessage", None) or []:
            try:
                events += parse_notification(message)
            except Exception as exc:  # one odd message must not end the subscription
                reporter.malformed(f"ONVIF notification: {exc.__class__.__name__}")
        await reporter.events(events)


def _lease_s(result: Any, interval: dt.timedelta) -> float:
    """The lease the device granted, by its own clock; our request when it did not say."""
    current, termination = getattr(result, "CurrentTime", None), getattr(result, "TerminationTime", None)
    if isinstance(current, dt.datetime) and isinstance(termination, dt.datetime):
        with contextlib.suppress(TypeError):  # one aware, one naive: fall back
            granted = (termination - current).total_seconds()
            if granted > 0:
                return granted
    return interval.total_seconds()


async def _call(awaitable: Any, what: str) -> Any:
    try:
        return await awaitable
    except DeviceError:
        raise
    except Exception as exc:
        raise onvif_error(exc, what) from exc


def onvif_error(exc: BaseException, what: str) -> DeviceError:
    """A failed SOAP exchange as the device's state. No answer → unreachable; a rejected WS-UsernameToken
    (`ter:NotAuthorized`) or HTTP 401/403 → auth_failed; anything else → protocol_error. Never the password."""
    if isinstance(exc, onvif_lib.ONVIFError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, zeep.exceptions.Fault):
        if _is_not_authorized(exc):
            return AuthFailed(f"{what}: the device refused the user name or password (ter:NotAuthorized)")
        return ProtocolError(f"{what}: the device answered with a SOAP fault: {_fault_words(exc)}")
    if isinstance(exc, zeep.exceptions.TransportError):
        if exc.status_code in (401, 403):
            return AuthFailed(f"{what}: the device refused the user name or password (HTTP {exc.status_code})")
        return ProtocolError(f"{what}: unexpected HTTP {exc.status_code}")
    if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
        return Unreachable(f"{what}: no answer in time")
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):
        return Unreachable(f"{what}: cannot connect ({exc.__class__.__name__})")
    return ProtocolError(f"{what}: unexpected reply ({exc.__class__.__name__})")


def _is_not_authorized(fault: zeep.exceptions.Fault) -> bool:
    codes = [getattr(c, "text", None) or str(c) for c in (fault.subcodes or [])]
    if any("NotAuthorized" in code for code in codes):
        return True
    # devices that send no subcode say it in words ("Sender not Authorized", "Unauthorized")
    words = (fault.message or "").lower()
    return "not authorized" in words or "unauthorized" in words or "authority failure" in words


def _fault_words(fault: zeep.exceptions.Fault) -> str:
    codes = ",".join(getattr(c, "text", None) or str(c) for c in (fault.subcodes or []))
    text = (fault.message or "no reason given").strip()[:200]
    return f"{text} ({codes})" if codes else text
