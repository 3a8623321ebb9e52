"""`pulse alerts` as processes of their own that run on a test's clock, so that a fault test can kill one (SIGKILL:
its database sessions, and the leadership lock with them, die with the process) while the load moves the
stack's time ten seconds a round.

The test's clock writes its time to a file on every move (`ClockFile`); each process runs the service's own
`run_alerts`, as `pulse alerts` does, with a clock that reads that file — the only difference from the command.
Run as `python -m tests.e2e.alerts_process CLOCK_FILE`, with the settings in the environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import httpx

from services.alerts.channels import add_channel
from tests.e2e.chaos import component_env, terminate
from tests.e2e.harness import Clock, Stack, free_port, until
from tests.e2e.receivers import Receivers


class ClockFile(Clock):
    """The stack's clock, written to `path` whenever it moves (atomically: a reader never sees half a time)."""

    def __init__(self, now: datetime, path: Path) -> None:
        super().__init__(now)
        self.path = path
        self._write()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._write()

    def _write(self) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_text(self.now.isoformat())
        os.replace(partial, self.path)


class AlertsProcesses:
    """Several alerts processes on one database; one leads (the advisory lock), each says which in its metrics.
    They deliver to a webhook of `receivers`, which records every message."""

    def __init__(self, clock: ClockFile, receivers: Receivers, log_path: Path, count: int = 2, **env: str) -> None:
        self.clock, self.receivers, self.log_path, self.env = clock, receivers, log_path, env
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[asyncio.subprocess.Process] = []
        self.killed: list[int] = []  # the instances killed, in order
        self.said_before_kill: list[dict] = []  # the messages about cameras delivered when one was killed

    async def start(self, stack: Stack) -> None:
        add_channel(stack.db(), kind="webhook", target=f"http://127.0.0.1:{self.receivers.port}/hook", secret="s")
        with self.log_path.open("ab") as log:  # each process keeps its own descriptor
            for port in self.ports:
                environment = component_env(stack.settings, PULSE_ALERTS_METRICS_PORT=str(port), **self.env)
                command = [sys.executable, "-m", "tests.e2e.alerts_process", str(self.clock.path)]
                self.processes.append(
                    await asyncio.create_subprocess_exec(*command, env=environment, stdout=log, stderr=log)
                )
        await until(lambda: self.leader() is not None, timeout=60, what="an alerts instance to lead")

    def leader(self) -> int | None:
        """The instance that says it leads, if one does (a blocking call: from a thread, or briefly)."""
        for i, port in enumerate(self.ports):
            if self.processes[i].returncode is not None or i in self.killed:
                continue
            try:
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                continue  # not listening yet
            if "pulse_alerts_leader 1.0" in metrics:
                return i
        return None

    def kill_leader(self) -> None:
        leader = self.leader()
        assert leader is not None, "no alerts instance leads"
        self.processes[leader].send_signal(signal.SIGKILL)
        self.killed.append(leader)
        self.said_before_kill = self._about_cameras()

    def _about_cameras(self) -> list[dict]:
        return [h for h in self.receivers.webhooks() if h["camera_ids"]]

    async def notified_once(self, stack: Stack, camera: str) -> None:
        """`camera`'s incident said exactly once, and no other camera's: waits for its message and until nothing
        is left to send (a message sent twice would be a second delivery of a row still pending)."""
        await until(self._about_cameras, timeout=120, what=f"{camera}'s message")
        pending = "SELECT count(*) AS n FROM notifications WHERE status <> 'sent'"
        await until(lambda: stack.count(pending) == 0, timeout=120, what="every message sent")
        assert [(h["event"], h["camera_ids"]) for h in self._about_cameras()] == [("opened", [camera])]
        keys = [h["idempotency_key"] for h in self.receivers.webhooks()]
        assert len(keys) == len(set(keys))

    async def close(self) -> None:
        await terminate(self.processes)


def _main(clock_path: Path) -> None:
    from prometheus_client import start_http_server

    from services.alerts.service import run_alerts
    from services.core.settings import load_settings

    settings = load_settings()
    start_http_server(settings.alerts_metrics_port, addr="127.0.0.1")

    def now() -> datetime:
        return datetime.fromisoformat(clock_path.read_text())

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await run_alerts(settings, stop, clock=now)

    asyncio.run(run())


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
