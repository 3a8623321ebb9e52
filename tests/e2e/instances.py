"""Several instances of one component, each a process of its own, for the fault tests on the cluster: two
`pulse alerts` (one leads), two camera gateways behind one address list, `pulse ingest` processes in one
consumer group. Alerts and gateways run on the load's clock (tests/e2e/on_clock.py); ingest needs no clock.

Every method blocks (plain subprocesses and HTTP): the fault tests call them from the thread a crash runs in.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from services.alerts.channels import add_channel
from services.core import kafka, sealing
from services.core.failover import Endpoints
from services.core.settings import Settings
from tests.e2e.chaos import component_env
from tests.e2e.harness import Stack, free_port, wait_until
from tests.e2e.on_clock import ClockFile
from tests.e2e.receivers import Receivers
from tests.processes import pulse_command


class Instances:
    """Processes of one component; each output goes to `log_path`."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.processes: list[subprocess.Popen] = []
        self.killed: list[int] = []  # the instances killed (SIGKILL), in order

    def spawn(self, command: list[str], env: dict[str, str]) -> int:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
        return len(self.processes) - 1

    def kill(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait(30)
        self.killed.append(index)

    def alive(self, index: int) -> bool:
        return self.processes[index].poll() is None

    def close(self) -> None:
        """SIGTERM each one still running and wait for it: a test never leaves one behind."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            process.wait(60)


def alerts_leader(metrics_ports: list[int], running: Callable[[int], bool]) -> int | None:
    """Of `pulse alerts` instances (their metrics ports), the one that says it leads, if one does; those not
    `running` (by index) are not asked."""
    for i, port in enumerate(metrics_ports):
        if not running(i):
            continue
        try:
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue  # not listening yet
        if "pulse_alerts_leader 1.0" in metrics:
            return i
    return None


def _on_clock(clock: ClockFile, component: str) -> list[str]:
    return [sys.executable, "-m", "tests.e2e.on_clock", str(clock.path), component]


class AlertsProcesses(Instances):
    """`pulse alerts` processes on the load's clock; one leads (the advisory lock) and says so in its metrics.
    They deliver to a webhook of `receivers`, which records every message."""

    def __init__(self, clock: ClockFile, receivers: Receivers, log_path: Path, count: int = 2, **env: str) -> None:
        super().__init__(log_path)
        self.clock, self.receivers, self.count, self.env = clock, receivers, count, env
        self.ports: list[int] = []
        self.said_before_kill: list[dict] = []  # the messages about cameras delivered when the leader was killed

    def start(self, stack: Stack) -> None:
        add_channel(
            stack.db(),
            kind="webhook",
            target=f"http://127.0.0.1:{self.receivers.port}/hook",
            secret="s",
            keys=sealing.keyring(stack.settings),
        )
        for _ in range(self.count):
            self.ports.append(port := free_port())
            self.spawn(
                _on_clock(self.clock, "alerts"),
                component_env(stack.settings, PULSE_ALERTS_METRICS_PORT=str(port), **self.env),
            )
        wait_until(lambda: self.leader() is not None, timeout=60, what="an alerts instance to lead")

    def leader(self) -> int | None:
        """The instance that says it leads, if one does."""
        return alerts_leader(self.ports, self.alive)

    def kill_leader(self) -> None:
        leader = self.leader()
        assert leader is not None, "no alerts instance leads"
        self.kill(leader)
        self.said_before_kill = self._about_cameras()

    def another_leads(self) -> bool:
        leader = self.leader()
        return leader is not None and leader not in self.killed

    def _about_cameras(self) -> list[dict]:
        return [h for h in self.receivers.webhooks() if h["camera_ids"]]

    def notified_once(self, stack: Stack, camera: str) -> None:
        """`camera`'s incident said exactly once, and no other camera's: waits for its message and until nothing
        is left to send (a message sent twice would be a second delivery of a row still pending)."""
        wait_until(self._about_cameras, timeout=120, what=f"{camera}'s message")
        pending = "SELECT count(*) AS n FROM notifications WHERE status <> 'sent'"
        wait_until(lambda: stack.count(pending) == 0, timeout=120, what="every message sent")
        assert [(h["event"], h["camera_ids"]) for h in self._about_cameras()] == [("opened", [camera])]
        keys = [h["idempotency_key"] for h in self.receivers.webhooks()]
        assert len(keys) == len(set(keys))


class GatewayProcesses(Instances):
    """Camera gateways on the load's clock, each its own port and data directory (spool), behind one address
    list that the load posts through (`services.core.failover.Endpoints`, as the simulator and the app's client)."""

    def __init__(self, clock: ClockFile, data_dir: Path, log_path: Path, count: int = 2) -> None:
        super().__init__(log_path)
        self.clock, self.data_dir = clock, data_dir
        self.endpoints = Endpoints([f"http://127.0.0.1:{free_port()}" for _ in range(count)])
        self.http: httpx.AsyncClient | None = None

    def start(self, stack: Stack) -> None:
        self.http = stack.http
        for i, url in enumerate(self.endpoints.urls):
            env = component_env(
                stack.settings,
                PULSE_GATEWAY_PORT=url.rsplit(":", 1)[1],
                PULSE_DATA_DIR=str(self.data_dir / f"gateway-{i}"),
                PULSE_GATEWAY_SEND_TIMEOUT_S=str(stack.settings.gateway_send_timeout_s),
            )
            self.spawn(_on_clock(self.clock, "camera-gateway"), env)
        for url in self.endpoints.urls:
            wait_until(lambda url=url: _healthy(url), timeout=60, what=f"the gateway at {url}")

    async def push(self, token: str, items: list[dict]) -> httpx.Response:
        assert self.http is not None, "start the gateways first"
        body = {"heartbeats": items}
        return await self.endpoints.post(
            self.http, "/v1/heartbeats", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    def kill_current(self) -> None:
        """The gateway the load is posting to, killed (most of the time with a request on its way: the load posts
        without pause)."""
        self.kill(self.endpoints.current)

    def moved_on(self) -> bool:
        return bool(self.killed) and self.endpoints.current != self.killed[-1]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


class IngestProcesses(Instances):
    """`pulse ingest` processes in one consumer group (each its own metrics port)."""

    def __init__(self, log_path: Path, **env: str) -> None:
        super().__init__(log_path)
        self.env = env

    def add(self, settings: Settings) -> int:
        return self.spawn(pulse_command("ingest"), component_env(settings, **self.env))

    def start(self, stack: Stack) -> None:
        self.add(stack.settings)

    def group_state(self, settings: Settings) -> str:
        """The heartbeat consumer group's state as its coordinator says (Stable, PreparingRebalance, …)."""

        async def describe() -> str:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                group = kafka.topic(settings, "pulse-ingest-heartbeats")
                (response,) = await admin.describe_consumer_groups([group])
                (described,) = response.groups
                return described[2]
            finally:
                await admin.close()

        return asyncio.run(describe())

    def kill_first_amid_rebalance(self, settings: Settings) -> None:
        """A second process joins (the group rebalances); the first is killed while the coordinator still waits
        for the members to join again — a rebalance in progress, seen, not guessed."""
        self.add(settings)
        rebalancing = ("PreparingRebalance", "CompletingRebalance")
        wait_until(lambda: self.group_state(settings) in rebalancing, timeout=60, what="the group to rebalance")
        self.kill(0)
