"""Camera clouds: EZVIZ Open Platform and Imou Open API, for cameras only a vendor cloud can reach (SPEC §4 "Devices").

A cloud "device" is one operator's cloud account: `DeviceConfig.url` is the API base URL, `username` the app key
(EZVIZ appKey, Imou appId), `secret` the app secret. Each camera of the account is a channel whose key is the
camera's serial (EZVIZ `deviceSerial`, Imou `deviceId`); serials the account lists but nobody mapped are reported
all the same (the manager registers them). Defaults: EZVIZ `https://open.ezvizlife.com` (China:
`https://open.ys7.com`), Imou `https://openapi.easy4ip.com/openapi` (China: `https://openapi.lechange.cn/openapi`).

Wire formats (see tests/camera_gateway/devices/fixtures/clouds/README.md for the sources):
- EZVIZ: form POSTs. `/api/lapp/token/get` (appKey, appSecret) → `data.accessToken`, `data.expireTime` (epoch
  milliseconds), `data.areaDomain` abroad (the token is valid only there, so later calls go to it);
  `/api/lapp/device/list` (accessToken, pageStart, pageSize ≤ 50) → `data[]` with `deviceSerial`, `status` 1 online /
  0 offline, and `page.total`. Every reply carries `code` ("200" is success). 10005 (app key frozen), 10017 (no such
  app key) and 10030 (key and secret do not match) refuse the credentials; 10002 is an expired or invalid token.
- Imou: JSON POSTs to `{base}/{method}` with `system {ver "1.0", appId, time, nonce, sign}`, `params`, `id`, where
  sign = md5("time:{time},nonce:{nonce},appSecret:{secret}"). `accessToken` → `result.data.accessToken`,
  `expireTime` (seconds left), `currentDomain` (the region that serves the account); `deviceBaseList` (token,
  bindId −1 then the last bindId seen, limit, type "bindAndShare") → `result.data.deviceList[].deviceId`;
  `deviceOnline` (token, deviceId) → `result.data.onLine` "0" offline, "1" online, "3" upgrading, "4" sleeping.
  `result.code` "0" is success; OP1008 (bad app id) and SN1001/SN1004 (bad signature, i.e. the wrong secret) refuse
  the credentials; TK1002 is an expired token.

What a camera's status means (decided here; `tracker` turns it into heartbeats):
- online → `OFFLINE` inactive: the camera is up.
- offline → `OFFLINE` active: the cloud lost the camera, which is what "down" means for a camera nobody else reaches.
- upgrading (Imou "3") → `UPGRADING` active, `OFFLINE` inactive: alive but not serving video for minutes while it
  installs firmware, so degraded rather than down (an upgrade is planned work, not an outage).
- sleeping (Imou "4", battery cameras) → `OFFLINE` inactive: sleeping is such a camera's normal state — it wakes on
  motion or when someone opens it — so counting it down would make every battery camera look broken all day.
Every status also ends the alarm it does not raise (online ends `UPGRADING` as well as `OFFLINE`), and all of them
`hold`: the cloud is polled and answers with the full state each time, like an NVR's channel status. Each answered
poll adds one `ALIVE` for the account: the cloud answering is the proof of life that lets the tracker stamp
heartbeats. A status the parser does not know is a "problem" (reported as malformed, the camera skipped that
round), never a guess.

A camera removed from the account (unbound, no longer shared) simply stops being listed, and nothing would ever
say it is gone: its last reading would stand forever. So each session remembers the cameras it knows — the mapped
ones (`device.channels`) and every serial an earlier poll of this session listed — and each poll reports those the
listing leaves out as `OFFLINE` active, held, code "absent from the account" (`absent_cameras`, pure). Listed again,
a camera comes back by its ordinary status events. A listed camera whose own status could not be read that round
(Imou) is listed, so not absent.

Tokens are fetched at the start of a session, refreshed before they expire (a tenth of their lifetime early, at
most one hour early) and once more when the cloud calls one expired; a second refusal in a row ends the session.
The poll interval is `device.option("poll_s", 60)`. Neither the secret nor a token ever appears in an error,
a log line or a URL (both clouds take them in the POST body).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from camera_gateway.devices.connection import (
    AuthFailed,
    Check,
    DeviceConfig,
    ProtocolError,
    Reporter,
    Session,
    check_status,
    http_error,
)
from camera_gateway.devices.events import DeviceEvent, Signal

EZVIZ_URL = "https://open.ezvizlife.com"
IMOU_URL = "https://openapi.easy4ip.com/openapi"

EZVIZ_AUTH_CODES = frozenset({"10005", "10017", "10030"})
EZVIZ_TOKEN_EXPIRED = "10002"
IMOU_AUTH_CODES = frozenset({"OP1008", "SN1001", "SN1004"})
IMOU_TOKEN_EXPIRED = "TK1002"

_EZVIZ_PAGE = 50  # the platform's maximum page size
_IMOU_PAGE = 50
_MAX_PAGES = 200  # a cloud that keeps paging past 10,000 cameras is broken, not big

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


# ---- pure parsers ---------------------------------------------------------------------------------------------


def camera_events(serial: str, state: str, code: str) -> list[DeviceEvent]:
    """The events of one camera in one of the states "online", "offline", "upgrading", "sleeping"."""
    down = state == "offline"
    upgrading = state == "upgrading"
    return [
        DeviceEvent(Signal.OFFLINE, channel=serial, active=down, holds=True, code=code),
        DeviceEvent(Signal.UPGRADING, channel=serial, active=upgrading, holds=True, code=code),
    ]


ABSENT = "absent from the account"


def absent_cameras(known: Iterable[str], listed: Iterable[str]) -> list[DeviceEvent]:
    """`OFFLINE` (active, held) for every camera the session knows (mapped, or listed by an earlier poll) that this
    poll's listing leaves out, in serial order."""
    missing = set(known) - set(listed)
    return [
        DeviceEvent(Signal.OFFLINE, channel=serial, active=True, holds=True, code=ABSENT) for serial in sorted(missing)
    ]


_EZVIZ_STATES = {"1": "online", "0": "offline"}
_IMOU_STATES = {"1": "online", "0": "offline", "3": "upgrading", "4": "sleeping"}


def ezviz_devices(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The `data` list of an EZVIZ device-list reply; ValueError if the reply is not one."""
    data = payload.get("data")
    if not isinstance(data, list):
        raise ValueError("device list reply without a `data` list")
    return [d for d in data if isinstance(d, Mapping)]


def ezviz_serials(payload: Mapping[str, Any]) -> set[str]:
    """Every serial an EZVIZ device-list reply lists, whatever its status (a camera with an unreadable status is
    still on the account); ValueError if the reply is not one."""
    return {s for d in ezviz_devices(payload) if isinstance(s := d.get("deviceSerial"), str) and s}


def parse_ezviz_devices(payload: Mapping[str, Any], *, problems: list[str] | None = None) -> list[DeviceEvent]:
    """Events for every camera in an EZVIZ `/api/lapp/device/list` reply (one page or pages merged into `data`).

    Entries without a serial or with an unknown status are skipped and described in `problems`. Raises ValueError
    when the reply has no device list at all. No `ALIVE` here: that belongs to the poll, not to the page."""
    events: list[DeviceEvent] = []
    for entry in ezviz_devices(payload):
        serial, status = entry.get("deviceSerial"), str(entry.get("status"))
        if not isinstance(serial, str) or not serial:
            _problem(problems, "EZVIZ device entry without a deviceSerial")
        elif status not in _EZVIZ_STATES:
            _problem(problems, f"EZVIZ camera {serial}: unknown status {status!r}")
        else:
            events += camera_events(serial, _EZVIZ_STATES[status], f"status={status}")
    return events


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
        _problem(problems, f"Imou camera {serial}: unknown onLine {value!r}")
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


def _problem(problems: list[str] | None, reason: str) -> None:
    if problems is not None:
        problems.append(reason)


# ---- tokens ---------------------------------------------------------------------------------------------------


@dataclass
class _Token:
    value: str = field(repr=False)
    expires_at: float  # clock seconds
    issued_at: float
    base: str  # where the token is valid (EZVIZ areaDomain, Imou currentDomain), else the configured URL

    def due(self, now: float) -> bool:
        margin = min(3600.0, (self.expires_at - self.issued_at) / 10)
        return now >= self.expires_at - margin


def _token_fields(data: Mapping[str, Any]) -> tuple[str | None, float | None]:
    value, expires = data.get("accessToken"), data.get("expireTime")
    try:
        expiry = float(expires) if expires is not None and not isinstance(expires, bool) else None
    except (TypeError, ValueError):
        expiry = None
    return (value if isinstance(value, str) and value else None), expiry


class _Expired(Exception):
    """The cloud called the token expired: refresh once and retry."""


async def _reply_json(request: Awaitable[httpx.Response], what: str) -> Any:
    """The JSON of a cloud's reply; a transport failure, an HTTP error or a reply that is not JSON as a DeviceError."""
    try:
        response = await request
        check_status(response, what)
        return response.json()
    except ValueError as exc:
        raise ProtocolError(f"{what}: the reply is not JSON") from exc
    except (httpx.HTTPError, OSError) as exc:
        raise http_error(exc, what) from exc


@dataclass
class _CloudApi:
    """An account on a camera cloud: a token fetched with the app key and secret, refreshed before it is due and
    once more when the cloud calls it expired. A cloud says how it posts and how it issues its token."""

    device: DeviceConfig
    client: httpx.AsyncClient
    clock: Clock
    token: _Token | None = None
    TOKEN_PARAM: ClassVar[str] = ""  # the field a call carries the token in

    async def _post(self, base: str, path: str, payload: dict[str, Any], what: str) -> Mapping[str, Any]:
        raise NotImplementedError

    async def fetch_token(self) -> _Token:
        raise NotImplementedError

    async def call(self, path: str, payload: dict[str, Any], what: str) -> Mapping[str, Any]:
        for attempt in (1, 2):
            if self.token is None or self.token.due(self.clock()):
                await self.fetch_token()
            assert self.token is not None
            try:
                return await self._post(self.token.base, path, {**payload, self.TOKEN_PARAM: self.token.value}, what)
            except _Expired as exc:
                self.token = None
                if attempt == 2:
                    raise ProtocolError(f"{exc} again with a fresh token") from exc
        raise AssertionError("unreachable")


# ---- EZVIZ ----------------------------------------------------------------------------------------------------


@dataclass
class _Ezviz(_CloudApi):
    TOKEN_PARAM: ClassVar[str] = "accessToken"

    @property
    def base(self) -> str:
        return (self.device.url or EZVIZ_URL).rstrip("/")

    async def _post(self, base: str, path: str, payload: dict[str, Any], what: str) -> Mapping[str, Any]:
        body = await _reply_json(self.client.post(base + path, data=payload), what)
        if not isinstance(body, Mapping):
            raise ProtocolError(f"{what}: the reply is not a JSON object")
        code = str(body.get("code"))
        if code == "200":
            return body
        reason = f"{what}: EZVIZ code {code} ({str(body.get('msg', ''))[:80]})"
        if code in EZVIZ_AUTH_CODES:
            raise AuthFailed(f"{what}: EZVIZ refused the app key or secret (code {code})")
        if code == EZVIZ_TOKEN_EXPIRED:
            raise _Expired(reason)
        raise ProtocolError(reason)

    async def fetch_token(self) -> _Token:
        form = {"appKey": self.device.username, "appSecret": self.device.secret}
        body = await self._post(self.base, "/api/lapp/token/get", form, "EZVIZ token")
        data = body.get("data")
        data = data if isinstance(data, Mapping) else {}
        value, expires = _token_fields(data)
        if value is None or expires is None:
            raise ProtocolError("EZVIZ token: the reply has no accessToken/expireTime")
        now = self.clock()
        base = data.get("areaDomain") if isinstance(data.get("areaDomain"), str) else None
        self.token = _Token(value, expires / 1000, now, (base or self.base).rstrip("/"))
        return self.token

    async def devices(self) -> dict[str, Any]:
        """Every page of the device list, merged into one reply-shaped dict."""
        merged: list[Any] = []
        for page in range(_MAX_PAGES):
            form = {"pageStart": page, "pageSize": _EZVIZ_PAGE}
            body = await self.call("/api/lapp/device/list", form, "EZVIZ device list")
            try:
                batch = ezviz_devices(body)
            except ValueError as exc:
                raise ProtocolError(f"EZVIZ device list: {exc}") from exc
            merged += batch
            total = body.get("page", {}).get("total") if isinstance(body.get("page"), Mapping) else None
            if len(batch) < _EZVIZ_PAGE or (isinstance(total, int) and len(merged) >= total):
                break
        return {"code": "200", "data": merged}


async def ezviz_session(
    device: DeviceConfig,
    client: httpx.AsyncClient,
    reporter: Reporter,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Poll one EZVIZ account until an error ends the session (raised as a `DeviceError`)."""
    api = _Ezviz(device, client, clock)
    await api.fetch_token()
    reporter.connected()
    poll_s = float(device.option("poll_s", 60))
    known = set(device.channels)
    while True:
        payload = await api.devices()
        problems: list[str] = []
        events = parse_ezviz_devices(payload, problems=problems)
        for reason in problems:
            reporter.malformed(reason)
        listed = ezviz_serials(payload)
        events += absent_cameras(known, listed)
        known |= listed
        await reporter.events([DeviceEvent(Signal.ALIVE, code="poll"), *events])
        await sleep(poll_s)


async def ezviz_check(device: DeviceConfig, client: httpx.AsyncClient, *, clock: Clock = time.time) -> str:
    api = _Ezviz(device, client, clock)
    devices = ezviz_devices(await api.devices())
    online = sum(1 for d in devices if str(d.get("status")) == "1")
    return f"EZVIZ cloud: {_cameras(len(devices))} ({online} online)"


# ---- Imou -----------------------------------------------------------------------------------------------------


@dataclass
class _Imou(_CloudApi):
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
        reply = await _reply_json(self.client.post(f"{base}/{path}", json=body), what)
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
            raise _Expired(reason)
        raise ProtocolError(reason)

    async def fetch_token(self) -> _Token:
        reply = await self._post(self.base, "accessToken", {}, "Imou token")
        try:
            data = _imou_data(reply)
        except ValueError as exc:
            raise ProtocolError(f"Imou token: {exc}") from exc
        value, expire_s = _token_fields(data)
        if value is None or expire_s is None:
            raise ProtocolError("Imou token: the reply has no accessToken/expireTime")
        now = self.clock()
        domain = data.get("currentDomain")
        base = f"{domain.rstrip('/')}/openapi" if isinstance(domain, str) and domain else self.base
        self.token = _Token(value, now + expire_s, now, base)
        return self.token

    async def serials(self) -> list[str]:
        seen: dict[str, None] = {}
        bind_id: Any = -1
        for _ in range(_MAX_PAGES):
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


async def imou_session(
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
    await api.fetch_token()
    reporter.connected()
    poll_s = float(device.option("poll_s", 60))
    known = set(device.channels)
    while True:
        events = [DeviceEvent(Signal.ALIVE, code="poll")]
        listed = await api.serials()
        for serial in listed:
            problems: list[str] = []
            try:
                reply = await api.online(serial)
                events += parse_imou_online(serial, reply, problems=problems)
            except AuthFailed:
                raise
            except ProtocolError as exc:
                problems.append(str(exc))
            except ValueError as exc:
                problems.append(f"Imou camera {serial}: {exc}")
            for reason in problems:
                reporter.malformed(reason)
        events += absent_cameras(known, listed)
        known.update(listed)
        await reporter.events(events)
        await sleep(poll_s)


async def imou_check(device: DeviceConfig, client: httpx.AsyncClient, *, clock: Clock = time.time) -> str:
    api = _Imou(device, client, clock)
    serials = await api.serials()
    online = 0
    for serial in serials:
        try:
            online += str(_imou_data(await api.online(serial)).get("onLine")) == "1"
        except (ProtocolError, ValueError):
            pass  # the count says "online"; a camera that cannot say is not
    return f"Imou cloud: {_cameras(len(serials))} ({online} online)"


def _cameras(n: int) -> str:
    return f"{n} camera" if n == 1 else f"{n} cameras"


# The manager picks a cloud's loop and check by the device's kind.
PROTOCOLS: dict[str, tuple[Session, Check]] = {
    "ezviz": (ezviz_session, ezviz_check),
    "imou": (imou_session, imou_check),
}
