"""A whole pipeline in the test's event loop, on real servers: the camera gateway and the API served by uvicorn
on loopback ports, the ingest consumer on the real Kafka broker, the real TimescaleDB. Each stack gets its own
Kafka topics (a fresh `PULSE_KAFKA_PREFIX`) and spool directory; the gateway and the API share a clock that
the test moves. Waiting is polling for a condition with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from camera_gateway.app import create_app as gateway_app
from services.api.app import create_app as api_app
from services.core import accounts, serve
from services.core.kafka import ensure_topics
from services.core.settings import Settings
from services.ingest.service import heartbeat_pipeline
from services.ingest.consumer import run_pipeline


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def gateway(self, name: str, *units: str, unit_set: str = "2024") -> str:
        return accounts.create_gateway(self.conn, name=name, unit_set=unit_set, unit_codes=list(units))

    async def push(self, token: str, items: list[dict], **kwargs: Any) -> httpx.Response:
        return await self.http.post(
            f"{self.gateway_url}/v1/heartbeats",
            json={"heartbeats": items},
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )

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

    def stored(self) -> int:
        return self.conn.execute("SELECT count(*) AS n FROM heartbeats").fetchone()["n"]

    async def settle(self, heartbeats: int, *, watermarks: dict[str, datetime] | None = None) -> None:
        """Wait until `heartbeats` rows are stored, the rollup queue is empty and watermarks arrived."""

        def done() -> bool:
            if self.stored() != heartbeats:
                return False
            if self.conn.execute("SELECT count(*) AS n FROM camera_dirty").fetchone()["n"]:
                return False
            for name, ts in (watermarks or {}).items():
                row = self.conn.execute("SELECT watermark FROM gateways WHERE name = %s", (name,)).fetchone()
                if row is None or row["watermark"] is None or row["watermark"] < ts:
                    return False
            return True

        await until(done, what=f"{heartbeats} heartbeats stored and rolled up")

    async def close(self) -> None:
        self.stop_ingest.set()
        for server in self.servers:
            server.should_exit = True
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()


async def start_stack(
    base: Settings, conn: psycopg.Connection, tmp_path: Path, clock: Clock, *, ingest: bool = True
) -> Stack:
    settings = base.model_copy(update={"kafka_prefix": f"t{uuid.uuid4().hex[:10]}.", "data_dir": tmp_path})
    await ensure_topics(settings)
    gw_port, api_port = free_port(), free_port()
    stack = Stack(settings, clock, conn, f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{api_port}")
    for app, port in ((gateway_app(settings, clock=clock), gw_port), (api_app(settings, clock=clock), api_port)):
        server = serve.server(app, "127.0.0.1", port, "warning")
        stack.servers.append(server)
        stack.tasks.append(asyncio.create_task(server.serve()))
    if ingest:
        stack.tasks.append(asyncio.create_task(run_pipeline(settings, heartbeat_pipeline(settings), stack.stop_ingest)))
    await until(lambda: all(s.started for s in stack.servers), what="servers started")
    accounts.create_operator(conn, username="e2e-admin", role="admin", unit_set="2024", unit_codes=[], password=None)
    stack.admin_token = accounts.create_api_token(conn, username="e2e-admin")
    return stack


Factory = Callable[..., Awaitable[Stack]]
