"""Camera clouds: what EZVIZ Open Platform (`ezviz`) and Imou Open API (`imou`) share, for cameras only a vendor
cloud can reach (SPEC §4 "Devices").

A cloud "device" is one operator's cloud account: `DeviceConfig.url` is the API base URL, `username` the app key
(EZVIZ appKey, Imou appId), `secret` the app secret. Each camera of the account is a channel whose key is the
camera's serial (EZVIZ `deviceSerial`, Imou `deviceId`); serials the account lists but nobody mapped are reported
all the same (the manager registers them). Defaults: EZVIZ `https://open.ezvizlife.com` (China:
`https://open.ys7.com`), Imou `https://openapi.easy4ip.com/openapi` (China: `https://openapi.lechange.cn/openapi`).

Each cloud is its own module with its wire format, pure parsers, `session` and `check` (see their docstrings and
tests/camera_gateway/devices/fixtures/clouds/README.md for the sources); this one holds what both use: the
meaning of a camera's status, absent cameras, and the token-keeping API client they build on.

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

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from camera_gateway.devices.connection import DeviceConfig, ProtocolError, Reporter, check_status, http_error
from camera_gateway.devices.events import DeviceEvent, Signal

MAX_PAGES = 200  # a cloud that keeps paging past 10,000 cameras is broken, not big

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


# ---- pure parts -----------------------------------------------------------------------------------------------


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


def note_problem(problems: list[str] | None, reason: str) -> None:
    if problems is not None:
        problems.append(reason)


def cameras_in_words(n: int) -> str:
    """A count of cameras in words, for a check's one-line answer."""
    return f"{n} camera" if n == 1 else f"{n} cameras"


# ---- tokens ---------------------------------------------------------------------------------------------------


@dataclass
class Token:
    value: str = field(repr=False)
    expires_at: float  # clock seconds
    issued_at: float
    base: str  # where the token is valid (EZVIZ areaDomain, Imou currentDomain), else the configured URL

    def due(self, now: float) -> bool:
        margin = min(3600.0, (self.expires_at - self.issued_at) / 10)
        return now >= self.expires_at - margin


def token_fields(data: Mapping[str, Any]) -> tuple[str | None, float | None]:
    value, expires = data.get("accessToken"), data.get("expireTime")
    try:
        expiry = float(expires) if expires is not None and not isinstance(expires, bool) else None
    except (TypeError, ValueError):
        expiry = None
    return (value if isinstance(value, str) and value else None), expiry


class TokenExpired(Exception):
    """The cloud called the token expired: refresh once and retry."""


async def reply_json(request: Awaitable[httpx.Response], what: str) -> Any:
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
class CloudApi:
    """An account on a camera cloud: a token fetched with the app key and secret, refreshed before it is due and
    once more when the cloud calls it expired. A cloud says how it posts and how it issues its token."""

    device: DeviceConfig
    client: httpx.AsyncClient
    clock: Clock
    token: Token | None = None
    TOKEN_PARAM: ClassVar[str] = ""  # the field a call carries the token in

    async def _post(self, base: str, path: str, payload: dict[str, Any], what: str) -> Mapping[str, Any]:
        raise NotImplementedError

    async def fetch_token(self) -> Token:
        raise NotImplementedError

    async def call(self, path: str, payload: dict[str, Any], what: str) -> Mapping[str, Any]:
        for attempt in (1, 2):
            if self.token is None or self.token.due(self.clock()):
                await self.fetch_token()
            assert self.token is not None
            try:
                return await self._post(self.token.base, path, {**payload, self.TOKEN_PARAM: self.token.value}, what)
            except TokenExpired as exc:
                self.token = None
                if attempt == 2:
                    raise ProtocolError(f"{exc} again with a fresh token") from exc
        raise AssertionError("unreachable")


Round = Callable[[], Awaitable[tuple[list[DeviceEvent], set[str], list[str]]]]


async def poll_account(api: CloudApi, reporter: Reporter, one_round: Round, sleep: Sleep) -> None:
    """A cloud session: log in, then every `poll_s` one round — its camera events, the serials it listed and the
    problems it met — reported with one `ALIVE` for the answering cloud and the known cameras it left out as
    absent. Runs until an error ends it (raised as a `DeviceError`)."""
    await api.fetch_token()
    reporter.connected()
    poll_s = float(api.device.option("poll_s", 60))
    known = set(api.device.channels)
    while True:
        events, listed, problems = await one_round()
        for reason in problems:
            reporter.malformed(reason)
        events += absent_cameras(known, listed)
        known |= listed
        await reporter.events([DeviceEvent(Signal.ALIVE, code="poll"), *events])
        await sleep(poll_s)
