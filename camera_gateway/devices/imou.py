"""Imou Open API: the cloud of Imou (Dahua's consumer brand) cameras, polled as `DeviceEvent`s.

What a cloud "device" is, what each camera status means, absent cameras and tokens: see `clouds`, which this
module builds on.

Wire format (see tests/camera_gateway/devices/fixtures/clouds/README.md for the sources): JSON POSTs to
`{base}/{method}` with `system {ver "1.0", appId, time, nonce, sign}`, `params`, `id`, where
sign = md5("time:{time},nonce:{nonce},appSecret:{secret}"). `accessToken` → `result.data.accessToken`,
`expireTime` (seconds left), `currentDomain` (the region that serves the account); `deviceBaseList` (token,
bindId −1 then the last bindId seen, limit, type "bindAndShare") → `result.data.deviceList[].deviceId`;
`deviceOnline` (token, deviceId) → `result.data.onLine` "0" offline, "1" online, "3" upgrading, "4" sleeping.
`result.code` "0" is success; OP1008 (bad app id) and SN1001/SN1004 (bad signature, i.e. the wrong secret) refuse
the credentials; TK1002 is an expired token.

Two halves, as for every protocol here:
- `parse_imou_online(serial, payload)`, `imou_serials(payload)` and `imou_sign(...)` are pure.
- `session(...)` and `check(...)` are the thin polling code over `clouds.CloudApi` and `connection`: list the
  account's cameras, then ask each one's status.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from camera_gateway.devices.clouds import (
    MAX_PAGES,
    Clock,
    CloudApi,
    Sleep,
    Token,
    TokenExpired,
    camera_events,
    cameras_in_words,
    note_problem,
    poll_account,
    reply_json,
    token_fields,
)
from camera_gateway.devices.connection import AuthFailed, DeviceConfig, ProtocolError, Reporter
from camera_gateway.devices.events import DeviceEvent

IMOU_URL = "https://openapi.easy4ip.com/openapi"

IMOU_AUTH_CODES = frozenset({"OP1008", "SN1001", "SN1004"})
IMOU_TOKEN_EXPIRED = "TK1002"

_IMOU_PAGE = 50

_IMOU_STATES = {"1": "online", "0": "offline", "3": "upgrading", "4": "sleeping"}


# ---- pure parsers ---------------------------------------------------------------------------------------------


def parse_imou_online(
    serial: str, payload: Mapping[str, Any], *, problems: list[str] | None = None
) -> list[DeviceEvent]:
    """Events for one camera from an Imou `deviceOnline` reply (the whole body, `{"result": {"data": …}}`).

    An unknown `onLine` value is a problem, not an event; a reply without `result.data.onLine` raises ValueError."""
    data = _imou_data(payload)
    if "onLine" not in data:
        raise ValueError("deviceOnline reply without result.data.onLine")
    value = str(data["onLine"])
    if value not in _IMOU_STATES:
        note_problem(problems, f"Imou camera {serial}: unknown onLine {value!r}")
        return []
    return camera_events(serial, _IMOU_STATES[value], f"onLine={value}")


def imou_serials(payload: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(deviceId, bindId) of every device in an Imou `deviceBaseList` reply; ValueError if it is not one."""
    devices = _imou_data(payload).get("deviceList")
    if not isinstance(devices, list):
        raise ValueError("deviceBaseList reply without result.data.deviceList")
    return [
        (d["deviceId"], d.get("bindId"))
        for d in devices
        if isinstance(d, Mapping) and isinstance(d.get("deviceId"), str) and d["deviceId"]
    ]


def imou_sign(time_s: int, nonce: str, secret: str) -> str:
    """The Imou request signature (md5 is the platform's choice, not ours)."""
    return hashlib.md5(f"time:{time_s},nonce:{nonce},appSecret:{secret}".encode()).hexdigest()


def _imou_data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    result = payload.get("result")
    data = result.get("data") if isinstance(result, Mapping) else None
    if not isinstance(data, Mapping):
        raise ValueError("reply without result.data")
    return data


# ---- the connection -------------------------------------------------------------------------------------------


@dataclass
class _Imou(CloudApi):
    TOKEN_PARAM: ClassVar[str] = "token"

    @property
    def base(self) -> str:
        return (self.device.url or IMOU_URL).rstrip("/")

    async def _post(self, base: str, path: str, payload: dict[str, Any], what: str) -> Mapping[str, Any]:
        now, nonce = int(self.clock()), secrets.token_hex(16)
        body = {
            "system": {
                "ver": "1.0",
                "appId": self.device.username,
                "time": now,
                "nonce": nonce,
                "sign": imou_sign(now, nonce, self.device.secret),
            },
            "params": payload,
            "id": secrets.token_hex(8),
        }
        reply = await reply_json(self.client.post(f"{base}/{path}", json=body), what)
        result = reply.get("result") if isinstance(reply, Mapping) else None
        if not isinstance(result, Mapping):
            raise ProtocolError(f"{what}: the reply has no `result`")
        code = str(result.get("code"))
        if code == "0":
            return reply
        reason = f"{what}: Imou code {code} ({str(result.get('msg', ''))[:80]})"
        if code in IMOU_AUTH_CODES:
            raise AuthFailed(f"{what}: Imou refused the app id or secret (code {code})")
        if code == IMOU_TOKEN_EXPIRED:
            raise TokenExpired(reason)
        raise ProtocolError(reason)

    async def fetch_token(self) -> Token:
        reply = await self._post(self.base, "accessToken", {}, "Imou token")
        try:
            data = _imou_data(reply)
        except ValueError as exc:
            raise ProtocolError(f"Imou token: {exc}") from exc
        value, expire_s = token_fields(data)
        if value is None or expire_s is None:
            raise ProtocolError("Imou token: the reply has no accessToken/expireTime")
        now = self.clock()
        domain = data.get("currentDomain")
        base = f"{domain.rstrip('/')}/openapi" if isinstance(domain, str) and domain else self.base
        self.token = Token(value, now + expire_s, now, base)
        return self.token

    async def serials(self) -> list[str]:
        seen: dict[str, None] = {}
        bind_id: Any = -1
        for _ in range(MAX_PAGES):
            params = {"bindId": bind_id, "limit": _IMOU_PAGE, "type": "bindAndShare", "needApInfo": False}
            reply = await self.call("deviceBaseList", params, "Imou device list")
            try:
                page = imou_serials(reply)
            except ValueError as exc:
                raise ProtocolError(f"Imou device list: {exc}") from exc
            seen.update((serial, None) for serial, _ in page)
            if len(page) < _IMOU_PAGE or page[-1][1] in (None, bind_id):
                break
            bind_id = page[-1][1]
        return list(seen)

    async def online(self, serial: str) -> Mapping[str, Any]:
        return await self.call("deviceOnline", {"deviceId": serial}, f"Imou camera {serial}")


async def session(
    device: DeviceConfig,
    client: httpx.AsyncClient,
    reporter: Reporter,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Poll one Imou account until an error ends the session: list the cameras, then ask each one's status.

    One camera whose status call fails with a vendor code (unbound meanwhile, no right) is reported as malformed and
    skipped that round; refused credentials, transport failures and unreadable replies end the session."""
    api = _Imou(device, client, clock)

    async def one_round() -> tuple[list[DeviceEvent], set[str], list[str]]:
        events: list[DeviceEvent] = []
        problems: list[str] = []
        listed = await api.serials()
        for serial in listed:
            try:
                reply = await api.online(serial)
                events += parse_imou_online(serial, reply, problems=problems)
            except AuthFailed:
                raise
            except ProtocolError as exc:
                problems.append(str(exc))
            except ValueError as exc:
                problems.append(f"Imou camera {serial}: {exc}")
        return events, set(listed), problems

    await poll_account(api, reporter, one_round, sleep)


async def check(device: DeviceConfig, client: httpx.AsyncClient, *, clock: Clock = time.time) -> str:
    api = _Imou(device, client, clock)
    serials = await api.serials()
    online = 0
    for serial in serials:
        try:
            online += str(_imou_data(await api.online(serial)).get("onLine")) == "1"
        except (ProtocolError, ValueError):
            pass  # the count says "online"; a camera that cannot say is not
    return f"Imou cloud: {cameras_in_words(len(serials))} ({online} online)"
