"""Components as processes of their own that run on a test's clock, so that a fault test can kill one (SIGKILL:
its connections, and an alerts leader's lock with them, die with the process) while the load moves the stack's
time ten seconds a round.

The test's clock writes its time to a file on every move (`ClockFile`); each process runs the component's own
code as its `pulse` command does (`run_alerts`; the gateway's app served by uvicorn) with a clock that reads that
file — the only difference from the command. Run as `python -m tests.e2e.on_clock CLOCK_FILE COMPONENT`
(`alerts` or `camera-gateway`), with the settings in the environment.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

from tests.e2e.harness import Clock


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


def _main(clock_path: Path, component: str) -> None:
    from services.core import serve
    from services.core.settings import load_settings

    settings = load_settings()

    def now() -> datetime:
        return datetime.fromisoformat(clock_path.read_text())

    if component == "alerts":
        from prometheus_client import start_http_server

        from services.alerts.service import run_alerts

        start_http_server(settings.alerts_metrics_port, addr="127.0.0.1")
        asyncio.run(serve.serve_all([], [lambda stop: run_alerts(settings, stop, clock=now)]))
    elif component == "camera-gateway":
        from camera_gateway.app import create_app

        app = create_app(settings, clock=now)
        asyncio.run(serve.serve_all([serve.server(app, "127.0.0.1", settings.gateway_port, "warning")]))
    else:
        raise SystemExit(f"unknown component {component!r}")


if __name__ == "__main__":
    _main(Path(sys.argv[1]), sys.argv[2])
