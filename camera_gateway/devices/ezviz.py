"""EZVIZ Open Platform: the cloud of EZVIZ (Hikvision's consumer brand) cameras, polled as `DeviceEvent`s.

What a cloud "device" is, what each camera status means, absent cameras and tokens: see `clouds`, which this
module builds on.

Wire format (see tests/camera_gateway/devices/fixtures/clouds/README.md for the sources): form POSTs.
`/api/lapp/token/get` (appKey, appSecret) → `data.accessToken`, `data.expireTime` (epoch milliseconds),
`data.areaDomain` abroad (the token is valid only there, so later calls go to it); `/api/lapp/device/list`
(accessToken, pageStart, pageSize ≤ 50) → `data[]` with `deviceSerial`, `status` 1 online / 0 offline, and
`page.total`. Every reply carries `code` ("200" is success). 10005 (app key frozen), 10017 (no such app key) and
10030 (key and secret do not match) refuse the credentials; 10002 is an expired or invalid token.

Two halves, as for every protocol here:
- `parse_ezviz_devices(payload)` and `ezviz_serials(payload)` are pure: a device-list reply in, events (or the
  listed serials) out.
- `session(...)` and `check(...)` are the thin polling code over `clouds.CloudApi` and `connection`.
"""

from __future__ import annotations

import asyncio
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

EZVIZ_URL = "https://open.ezvizlife.com"

EZVIZ_AUTH_CODES = frozenset({"10005", "10017", "10030"})
EZVIZ_TOKEN_EXPIRED = "10002"

_EZVIZ_PAGE = 50  # the platform's maximum page size

_EZVIZ_STATES = {"1": "online", "0": "offline"}


# ---- pure parsers ---------------------------------------------------------------------------------------------


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
            note_problem(problems, "EZVIZ device entry without a deviceSerial")
        elif status not in _EZVIZ_STATES:
            note_problem(problems, f"EZVIZ camera {serial}: unknown status {status!r}")
        else:
            events += camera_events(serial, _EZVIZ_STATES[status], f"status={status}")
    return events


# ---- the connection -------------------------------------------------------------------------------------------


@dataclass
class _Ezviz(CloudApi):
    TOKEN_PARAM: ClassVar[str] = "accessToken"

    @property
    def base(self) -> str:
        return (self.device.url or EZVIZ_URL).rstrip("/")

    async def _post(self, base: str, path: str, payload: dict[str, Any], what: str) -> Mapping[str, Any]:
        body = await reply_json(self.client.post(base + path, data=payload), what)
        if not isinstance(body, Mapping):
            raise ProtocolError(f"{what}: the reply is not a JSON object")
        code = str(body.get("code"))
        if code == "200":
            return body
        reason = f"{what}: EZVIZ code {code} ({str(body.get('msg', ''))[:80]})"
        if code in EZVIZ_AUTH_CODES:
            raise AuthFailed(f"{what}: EZVIZ refused the app key or secret (code {code})")
        if code == EZVIZ_TOKEN_EXPIRED:
            raise TokenExpired(reason)
        raise ProtocolError(reason)

    async def fetch_token(self) -> Token:
        form = {"appKey": self.device.username, "appSecret": self.device.secret}
        body = await self._post(self.base, "/api/lapp/token/get", form, "EZVIZ token")
        data = body.get("data")
        data = data if isinstance(data, Mapping) else {}
        value, expires = token_fields(data)
        if value is None or expires is None:
            raise ProtocolError("EZVIZ token: the reply has no accessToken/expireTime")
        now = self.clock()
        base = data.get("areaDomain") if isinstance(data.get("areaDomain"), str) else None
        self.token = Token(value, expires / 1000, now, (base or self.base).rstrip("/"))
        return self.token

    async def devices(self) -> dict[str, Any]:
        """Every page of the device list, merged into one reply-shaped dict."""
        merged: list[Any] = []
        for page in range(MAX_PAGES):
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


async def session(
    device: DeviceConfig,
    client: httpx.AsyncClient,
    reporter: Reporter,
    *,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Poll one EZVIZ account until an error ends the session (raised as a `DeviceError`)."""
    api = _Ezviz(device, client, clock)

    async def one_round() -> tuple[list[DeviceEvent], set[str], list[str]]:
        payload = await api.devices()
        problems: list[str] = []
        events = parse_ezviz_devices(payload, problems=problems)
        return events, ezviz_serials(payload), problems

    await poll_account(api, reporter, one_round, sleep)


async def check(device: DeviceConfig, client: httpx.AsyncClient, *, clock: Clock = time.time) -> str:
    api = _Ezviz(device, client, clock)
    devices = ezviz_devices(await api.devices())
    online = sum(1 for d in devices if str(d.get("status")) == "1")
    return f"EZVIZ cloud: {cameras_in_words(len(devices))} ({online} online)"
