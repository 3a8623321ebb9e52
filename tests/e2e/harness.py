"""A whole pipeline in the test's event loop, on real servers: the camera gateway and the API served by uvicorn
on loopback ports, the ingest consumer on the real Kafka broker, the real TimescaleDB. Each stack gets its own
Kafka topics (a fresh `PULSE_KAFKA_PREFIX`) and spool directory; the gateway and the API share a clock that
the test moves. Waiting is polling for a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from app_events.app import create_app as collector_app
from camera_gateway.app import create_app as gateway_app
from services.api.app import create_app as api_app
from services.core import accounts, serve
from services.core.db import connect
from services.core.kafka import ensure_topics
from services.core.settings import Settings
from services.ingest.consumer import run_pipeline
from services.ingest.service import app_event_pipeline, heartbeat_pipeline
from tests.topics import fresh_prefix

# App events counted in the district's activity rows (each stored event once).
DISTRICT_EVENTS = (
    "SELECT sum(e.events) AS n FROM engagement_daily e"
    " JOIN engagement_scopes s USING (scope_id) WHERE s.scope_set = '*'"
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


_PORTS = random.Random()  # its own generator: tests that seed the global one must not make ports repeat
_GIVEN: set[int] = set()  # never the same port twice in one test session


def free_port() -> int:
    """A port to listen on, below Linux's ephemeral range (32768–60999): a port the kernel handed out for a moment
    could be given to an outgoing connection (Kafka, PostgreSQL) before the server binds it (seen once)."""
    while True:
        port = _PORTS.randrange(20_000, 32_000)
        if port in _GIVEN:
            continue
        _GIVEN.add(port)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


async def until(condition: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)  # poll


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """`until` for code that may block (a thread, a synchronous test): poll `condition` until it gives something
    true, or fail after `timeout` seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.02)  # ok: polling another process's state with a deadline
    return result


@dataclass
class Stack:
    settings: Settings
    clock: Clock
    conn: psycopg.Connection
    gateway_url: str
    api_url: str
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    servers: list[Any] = field(default_factory=list)
    stop_ingest: asyncio.Event = field(default_factory=asyncio.Event)
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=30))
    admin_token: str = ""
    gateway_app: Any = None
    reconnected: list[psycopg.Connection] = field(default_factory=list)
    stop_alerts: asyncio.Event = field(default_factory=asyncio.Event)
    collector_url: str = ""  # the app-events collector, when the settings carry a pseudonym key
    app_key: str = ""

    async def send_events(self, body: dict, **kwargs: Any) -> httpx.Response:
        return await self.http.post(
            f"{self.collector_url}/v1/events", json=body, headers={"X-App-Key": self.app_key}, **kwargs
        )

    def gateway(self, name: str, *units: str, unit_set: str = "2024") -> str:
        return accounts.create_gateway(self.conn, name=name, unit_set=unit_set, unit_codes=list(units))

    async def push(self, token: str, items: list[dict], **kwargs: Any) -> httpx.Response:
        return await self.http.post(
            f"{self.gateway_url}/v1/heartbeats",
            json={"heartbeats": items},
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )

    async def gateway_reload(self) -> None:
        """Make the gateway see registry changes now instead of at its next refresh."""
        await asyncio.to_thread(self.gateway_app.state.registry.refresh)

    async def keepalive(self, token: str, ts: datetime | None = None) -> httpx.Response:
        body = {"ts": ts.isoformat()} if ts else {}
        return await self.http.post(
            f"{self.gateway_url}/v1/keepalive", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    async def api(self, path: str, **params: Any) -> Any:
        response = await self.http.get(
            f"{self.api_url}{path}", params=params, headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def db(self) -> psycopg.Connection:
        """A working connection (the test's own one dies when a fault test restarts PostgreSQL)."""
        if self.conn.closed or self.conn.broken:
            self.conn.close()
            self.conn = connect(self.settings, autocommit=True)
            self.reconnected.append(self.conn)
        return self.conn

    def count(self, sql: str) -> int:
        try:
            return self.db().execute(sql).fetchone()["n"]
        except psycopg.OperationalError:
            self.conn.close()
            return -1

    def stored(self) -> int:
        return self.count("SELECT count(*) AS n FROM heartbeats")

    async def settle(
        self, heartbeats: int, *, watermarks: dict[str, datetime] | None = None, timeout: float = 30.0
    ) -> None:
        """Wait until `heartbeats` rows are stored, the rollup queue is empty and watermarks arrived."""

        def done() -> bool:
            if self.stored() != heartbeats:
                return False
            if self.count("SELECT count(*) AS n FROM camera_dirty"):
                return False
            for name, ts in (watermarks or {}).items():
                row = self.db().execute("SELECT watermark FROM gateways WHERE name = %s", (name,)).fetchone()
                if row is None or row["watermark"] is None or row["watermark"] < ts:
                    return False
            return True

        try:
            await until(done, timeout=timeout, what=f"{heartbeats} heartbeats stored and rolled up")
        except AssertionError as exc:  # say which half is missing: the rows, or the rollup
            queued = self.count("SELECT count(*) AS n FROM camera_dirty")
            raise AssertionError(f"{exc} (stored {self.stored()}, cameras queued for the rollup {queued})") from None

    def start_alerts(self, clock: Callable[[], datetime] | None = None) -> asyncio.Task[Any]:
        """`pulse alerts` in this loop, on the stack's clock unless given another."""
        from services.alerts.service import run_alerts

        task = asyncio.create_task(run_alerts(self.settings, self.stop_alerts, clock=clock or self.clock))
        self.tasks.append(task)
        return task

    async def close(self) -> None:
        self.stop_ingest.set()
        self.stop_alerts.set()
        for server in self.servers:
            server.should_exit = True
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()
        for c in self.reconnected:
            c.close()


async def start_stack(
    base: Settings, conn: psycopg.Connection, tmp_path: Path, clock: Clock, *, ingest: bool = True, **overrides: Any
) -> Stack:
    update = {"kafka_prefix": fresh_prefix(), "data_dir": tmp_path, **overrides}
    settings = base.model_copy(update=update)
    await ensure_topics(settings)
    gw_port, api_port = free_port(), free_port()
    stack = Stack(settings, clock, conn, f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{api_port}")
    stack.gateway_app = gateway_app(settings, clock=clock)
    apps = [(stack.gateway_app, gw_port), (api_app(settings, clock=clock), api_port)]
    if settings.pseudonym_key is not None:
        collector_port = free_port()
        stack.collector_url = f"http://127.0.0.1:{collector_port}"
        stack.app_key = accounts.create_app(conn, name="HoangHoaS e2e")
        apps.append((collector_app(settings, clock=clock), collector_port))
    for app, port in apps:
        server = serve.server(app, "127.0.0.1", port, "warning")
        stack.servers.append(server)
        stack.tasks.append(asyncio.create_task(server.serve()))
    if ingest:
        for pipeline in (heartbeat_pipeline(settings), app_event_pipeline(settings)):
            stack.tasks.append(asyncio.create_task(run_pipeline(settings, pipeline, stack.stop_ingest)))
    await until(lambda: all(s.started for s in stack.servers), what="servers started")
    accounts.create_operator(conn, username="e2e-admin", role="admin", unit_set="2024", unit_codes=[], password=None)
    stack.admin_token = accounts.create_api_token(conn, username="e2e-admin")
    return stack


Factory = Callable[..., Awaitable[Stack]]
