"""A tiny HTTP/1.1 device on loopback for the protocol tests: it enforces digest authentication the way cameras
do (RFC 7616, MD5, qop=auth) and hands each authenticated request to the test's handler, which writes the reply
itself — so a test can stream parts, cut the stream in the middle of one, or accept and then stall.

Written on asyncio streams, not a web framework: a device's misbehaviour is the point, and a framework would
tidy it away. `RecordingReporter` collects what a connection loop reports.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from camera_gateway.devices.connection import DeviceError
from camera_gateway.devices.events import DeviceEvent


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    async def reply(
        self, status: int, body: bytes = b"", content_type: str = "application/xml", **headers: str
    ) -> None:
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

    async def start_stream(self, content_type: str) -> None:
        """Headers of a never-ending reply (no length: the body runs until the connection closes)."""
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
        self.writer.write(head.encode())
        await self.writer.drain()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}
Handler = Callable[[Request], Awaitable[None]]


@dataclass
class DigestDevice:
    """Serves `handler` on 127.0.0.1 behind digest auth for (username, password). `stall` True: accept TCP and
    then never answer. Counts authentication failures (a backoff test reads them)."""

    handler: Handler
    username: str = "admin"
    password: str = "Cam3ra!pass"
    realm: str = "IP Camera"
    stall: bool = False
    auth_failures: int = 0
    requests: int = 0
    server: asyncio.Server | None = None
    connections: set[asyncio.StreamWriter] = field(default_factory=set)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> DigestDevice:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.connections):
            w.close()
        for task in list(self.handlers):  # a handler may wait on the test (a queue): it ends with the device
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def drop_connections(self) -> None:
        for w in list(self.connections):
            w.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        try:
            if self.stall:
                await asyncio.Event().wait()
            while True:
                request = await _read_request(reader, writer)
                if request is None:
                    return
                self.requests += 1
                if not self._authorized(request):
                    nonce = secrets.token_hex(16)
                    challenge = f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", algorithm=MD5'
                    await request.reply(401, b"", "text/plain", WWW_Authenticate=challenge)
                    continue
                await self.handler(request)
                if request.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the test is over: a device has nobody to tell
        finally:
            self.connections.discard(writer)
            if task is not None:
                self.handlers.discard(task)
            writer.close()

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("digest "):
            return False
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        ha1 = _md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = _md5(f"{request.method}:{p.get('uri', '')}")
        expected = _md5(f"{ha1}:{p.get('nonce')}:{p.get('nc')}:{p.get('cnonce')}:{p.get('qop')}:{ha2}")
        ok = p.get("username") == self.username and p.get("response") == expected and p.get("uri") == request.target
        if not ok:
            self.auth_failures += 1
        return ok


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # the digest scheme cameras use


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    return Request(method, target, headers, body, reader, writer)


@dataclass
class RecordingReporter:
    """What a connection loop reported, in order; `changed` is set at every report (tests wait on it)."""

    events_seen: list[DeviceEvent] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    errors: list[DeviceError] = field(default_factory=list)
    malformed_reasons: list[str] = field(default_factory=list)

    def connected(self) -> None:
        self.states.append("connected")

    async def events(self, events: Sequence[DeviceEvent]) -> None:
        self.events_seen.extend(events)

    def malformed(self, reason: str) -> None:
        self.malformed_reasons.append(reason)

    def failed(self, error: DeviceError) -> None:
        self.states.append(error.state)
        self.errors.append(error)
