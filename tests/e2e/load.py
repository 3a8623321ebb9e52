"""Steady load for the chaos tests: cameras beating through the gateway and citizens using the app through the
collector, while a fault is injected, with exact accounting of what each front door acknowledged.

Time is the stack's clock, moved by the camera loop: each round is ROUND_S of the clock and every camera beats
once in every 60 s (so its beats are exactly 60 s apart, whatever the wall clock does during a fault). One
camera, `CAMERA_GONE`, stops beating after the first minutes: the alerts process must open its incident, which
shows it was judging the whole time (a check of "no false alert" is worth nothing against a sleeping judge).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from app_events.client import EventClient
from tests.e2e.harness import Stack, until

ROUND_S = 10
ROUNDS_PER_MINUTE = 60 // ROUND_S
CAMERA_GONE = "cam-gone"
UNITS = ("15865", "15871")  # the citizens' communes: two of the 37


@dataclass
class Load:
    stack: Stack
    token: str  # a gateway token for UNITS
    queue_dir: Path
    # How the cameras post (token, items): the stack's gateway, or another front door (gateways failing over).
    send: Callable[[str, list[dict]], Awaitable[httpx.Response]] | None = None
    cameras: int = 120
    citizens: int = 12
    pace_s: float = 0.1  # wall-clock pause between rounds
    heartbeats: set[tuple[str, datetime]] = field(default_factory=set)  # acknowledged (202, accepted)
    gone_after_round: int = 2 * ROUNDS_PER_MINUTE
    rounds: int = 0
    events_tracked: list[str] = field(default_factory=list)
    events_accepted: int = 0
    flushes_deferred: int = 0  # the collector said "retry later" (503 while Kafka is away)
    clients: list[EventClient] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._cameras()), asyncio.create_task(self._citizens())]

    async def finish(self, timeout: float = 120) -> None:
        """Stop the load and deliver every event still queued in the apps (they retry, as the app does)."""
        self.stop.set()
        await asyncio.gather(*self.tasks)

        async def delivered() -> bool:
            for client in self.clients:
                self.events_accepted += (await client.flush_all()).accepted
            return all(client.pending() == 0 for client in self.clients)

        await until(delivered, timeout=timeout, what="the apps' queues to be delivered")

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.close()

    async def _cameras(self) -> None:
        clock = self.stack.clock
        while not self.stop.is_set():
            turn = self.rounds % ROUNDS_PER_MINUTE
            ts = clock.now
            ids = [f"cam-{c:03d}" for c in range(self.cameras) if c % ROUNDS_PER_MINUTE == turn]
            if turn == 0 and self.rounds <= self.gone_after_round:
                ids.append(CAMERA_GONE)
            items = [{"camera_id": camera, "ts": ts.isoformat()} for camera in ids]
            response = await (self.send or self.stack.push)(self.token, items)
            # The gateway spools when Kafka is away: it must acknowledge every valid heartbeat, always.
            assert response.status_code == 202 and response.json()["accepted"] == len(items), response.text
            self.heartbeats.update((camera, ts) for camera in ids)
            self.rounds += 1
            clock.advance(ROUND_S)
            await asyncio.sleep(self.pace_s)  # ok: the load's pace in wall-clock time

    async def _citizens(self) -> None:
        self.clients = [
            EventClient(
                self.stack.collector_url,
                self.stack.app_key,
                self.queue_dir / f"app-{i}.sqlite",
                install_id=str(uuid.uuid4()),
                clock=self.stack.clock,
            )
            for i in range(self.citizens)
        ]
        i = 0
        while not self.stop.is_set():
            client = self.clients[i % self.citizens]
            unit = UNITS[i % len(UNITS)]
            for n in range(3):
                event = "app_open" if n == 0 else "news_read"
                extra = {} if n == 0 else {"article_id": f"a{i}-{n}"}
                self.events_tracked.append(
                    client.track(event, unit_code=unit, user_id=f"citizen-{i % self.citizens}", **extra)
                )
            # While Kafka is away the collector answers 503 after its send timeout; the client keeps the batch.
            result = await client.flush_all()
            self.events_accepted += result.accepted
            self.flushes_deferred += result.retry_after_s is not None
            i += 1
            await asyncio.sleep(self.pace_s)  # ok: the load's pace in wall-clock time
