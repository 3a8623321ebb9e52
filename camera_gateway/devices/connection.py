"""What every protocol's connection loop shares: the device's configuration, how a loop reports, the typed
errors that become the device's connection state (SPEC §4), and the backoff between attempts.

A protocol module provides two coroutines over this:
- `session(device, client, reporter)`: one connection (or one poll cycle that runs until it fails): it calls
  `reporter.connected()` once the device answered with the right credentials, `await reporter.events([...])` for
  every batch the pure parser produced, `reporter.malformed(reason)` for a part it could not read (counted and
  logged, never fatal), and raises a `DeviceError` when the connection ends;
- `check(device, client) -> str`: one short exchange for `pulse devices test`, returning what the device is
  (model, firmware, channels) in words, or raising a `DeviceError`.
`run_forever` turns a `session` into the never-ending loop with backoff. Errors carry words for an operator and
never the password, a secret, or a URL with credentials in it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import httpx

from camera_gateway.devices.events import DeviceEvent

log = logging.getLogger("pulse.devices")

ConnState = Literal["connecting", "connected", "auth_failed", "unreachable", "protocol_error"]
KINDS = ("hikvision", "dahua", "onvif", "ezviz", "imou")


@dataclass(frozen=True)
class DeviceConfig:
    device_id: int
    name: str
    kind: str
    url: str  # the device's base URL (http://host[:port]) or the cloud API's base URL
    username: str  # the device's user, or the cloud app key
    secret: str = field(repr=False)  # the password or cloud app secret, decrypted; never logged
    channels: Mapping[str, str] = field(default_factory=dict)  # channel key → camera id, where mapped
    options: Mapping[str, Any] = field(default_factory=dict)  # per-kind settings (e.g. heartbeat_s, stall_s)

    def option(self, name: str, default: Any) -> Any:
        return self.options.get(name, default)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], secret: str) -> DeviceConfig:
        """From a `devices` row (with its `channels` aggregated) and its decrypted secret."""
        return cls(
            device_id=row["device_id"],
            name=row["name"],
            kind=row["kind"],
            url=row["url"],
            username=row["username"],
            secret=secret,
            channels=dict(row["channels"]),
            options=dict(row["options"]),
        )


class DeviceError(Exception):
    """A connection attempt ended; the message is words for an operator (no secrets)."""

    state: ClassVar[ConnState] = "protocol_error"


class AuthFailed(DeviceError):
    state: ClassVar[ConnState] = "auth_failed"


class Unreachable(DeviceError):
    state: ClassVar[ConnState] = "unreachable"


class ProtocolError(DeviceError):
    state: ClassVar[ConnState] = "protocol_error"


class Reporter(Protocol):
    def connected(self) -> None: ...

    async def events(self, events: Sequence[DeviceEvent]) -> None: ...

    def malformed(self, reason: str) -> None: ...

    def failed(self, error: DeviceError) -> None: ...


Session = Callable[[DeviceConfig, httpx.AsyncClient, Reporter], Awaitable[None]]
Check = Callable[[DeviceConfig, httpx.AsyncClient], Awaitable[str]]


def http_error(exc: Exception, what: str) -> DeviceError:
    """An httpx failure as the device's state: no answer → unreachable, 401/403 → auth_failed, else protocol."""
    if isinstance(exc, DeviceError):
        return exc
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        if code in (401, 403):
            return AuthFailed(f"{what}: the device refused the user name or password (HTTP {code})")
        return ProtocolError(f"{what}: unexpected HTTP {code}")
    if isinstance(exc, httpx.ReadTimeout):
        return Unreachable(f"{what}: the device stopped sending (no data within the read timeout)")
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"{what}: no answer in time ({exc.__class__.__name__})")
    if isinstance(exc, (httpx.TransportError, OSError)):
        return Unreachable(f"{what}: cannot connect ({exc.__class__.__name__})")
    return ProtocolError(f"{what}: {exc.__class__.__name__}")


def check_status(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise http_error(httpx.HTTPStatusError("", request=response.request, response=response), what)


@dataclass
class Backoff:
    """Exponential backoff with full jitter. A refused password waits much longer than a lost connection:
    retrying a wrong password quickly gets the account locked on many cameras (and is a storm at scale)."""

    first_s: float = 1.0
    max_s: float = 120.0
    auth_first_s: float = 60.0
    auth_max_s: float = 900.0
    attempt: int = 0

    def next_delay(self, error: DeviceError) -> float:
        self.attempt += 1
        refused = error.state == "auth_failed"
        first, cap = (self.auth_first_s, self.auth_max_s) if refused else (self.first_s, self.max_s)
        ceiling = min(cap, first * 2 ** (self.attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not a secret

    def reset(self) -> None:
        self.attempt = 0


async def run_forever(
    session: Session,
    device: DeviceConfig,
    client: httpx.AsyncClient,
    reporter: Reporter,
    *,
    backoff: Backoff | None = None,
    healthy_after_s: float = 60.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run `session` again and again until cancelled; a session that lasted `healthy_after_s` resets the
    backoff. Any exception other than cancellation is reported as the device's state, never raised."""
    backoff = backoff or Backoff()
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await session(device, client, reporter)
            error: DeviceError = Unreachable("the device closed the connection")
        except asyncio.CancelledError:
            raise
        except DeviceError as exc:
            error = exc
        except Exception as exc:  # a bug or an unexpected reply must not end the device's loop
            log.exception("device %s: session failed", device.name)
            error = http_error(exc, "session")
        if loop.time() - started >= healthy_after_s:
            backoff.reset()
        reporter.failed(error)
        delay = backoff.next_delay(error)
        log.info("device %s: %s (%s); retrying in %.0f s", device.name, error.state, error, delay)
        await sleep(delay)
