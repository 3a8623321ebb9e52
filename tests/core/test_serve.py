"""`serve_all`'s order of stopping (issue 28: Ctrl-C of `make demo` printed a burst of the simulator's
"unreachable everywhere" warnings, because the servers it sends to stopped before it): feeders first, and only
once they have returned the servers and the workers. Checked on the order of events, never on timing."""

from __future__ import annotations

import asyncio
import os
import signal
from types import SimpleNamespace

import pytest

from services.cli import components
from services.core import serve
from services.core.settings import Settings


class FakeServer:
    """Stands in for a uvicorn server: serves until told to exit, and writes down when it is told."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.serving = asyncio.Event()
        self._exit = asyncio.Event()

    @property
    def should_exit(self) -> bool:
        return self._exit.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value and not self._exit.is_set():
            self.log.append("server told to exit")
            self._exit.set()

    async def serve(self) -> None:
        self.serving.set()
        await self._exit.wait()
        self.log.append("server stopped")


def simulator(log: list[str], server: FakeServer):
    """A feeder that, while stopping, still sends a last round: the server must still be serving then."""

    async def run(stop: asyncio.Event) -> None:
        await stop.wait()
        log.append("feeder told to stop")
        for _ in range(20):  # its last round of requests, over several turns of the loop
            await asyncio.sleep(0)  # ok: one turn of the event loop, no time passes
            if server.should_exit:
                log.append("feeder sent to a server on its way out")
        log.append("feeder stopped")

    return run


def worker(log: list[str]):
    async def run(stop: asyncio.Event) -> None:
        await stop.wait()
        log.append("worker told to stop")

    return run


async def test_ctrl_c_stops_the_feeders_before_the_servers_and_workers() -> None:
    log: list[str] = []
    server = FakeServer(log)

    async def ctrl_c(stop: asyncio.Event) -> None:
        await server.serving.wait()
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends; serve_all's handler takes it
        await stop.wait()

    await serve.serve_all([server], [worker(log), ctrl_c], [simulator(log, server)])
    assert log[:2] == ["feeder told to stop", "feeder stopped"]
    assert sorted(log[2:]) == sorted(["server told to exit", "server stopped", "worker told to stop"])
    assert log.index("server told to exit") < log.index("server stopped")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is Python's again


async def test_a_failing_worker_stops_the_feeders_first_and_its_error_is_raised() -> None:
    log: list[str] = []
    server = FakeServer(log)

    async def failing(stop: asyncio.Event) -> None:
        await server.serving.wait()
        raise RuntimeError("Kafka went away")

    with pytest.raises(RuntimeError, match="Kafka went away"):
        await serve.serve_all([server], [worker(log), failing], [simulator(log, server)])
    assert log[:2] == ["feeder told to stop", "feeder stopped"]
    assert "feeder sent to a server on its way out" not in log
    assert sorted(log[2:]) == sorted(["server told to exit", "server stopped", "worker told to stop"])


def test_pulse_up_runs_the_simulator_as_a_feeder(settings_for_run: Settings, monkeypatch) -> None:
    """`pulse up --demo` hands the simulator to serve_all as a feeder, the ingest and alerts as workers."""
    seen: dict[str, list] = {}

    async def capture(servers, workers=(), feeders=()) -> None:
        seen.update(servers=list(servers), workers=list(workers), feeders=list(feeders))

    class Simulator:
        world = SimpleNamespace(cameras=("cam",), units=("unit",))

        async def run(self, stop: asyncio.Event) -> None:
            await stop.wait()

    sim = Simulator()
    monkeypatch.setattr(serve, "serve_all", capture)
    components._run(settings_for_run, [], simulator=sim)
    assert seen["feeders"] == [sim.run] and seen["workers"] == [] and seen["servers"] == []


@pytest.fixture
def settings_for_run() -> Settings:
    return Settings(log_level="WARNING")


def test_pulse_up_goes_on_when_the_backfill_has_written_the_history(settings_for_run: Settings, monkeypatch) -> None:
    """A worker that returns stops everything (serve_all); the backfill returns when its days are written, and the
    demo must go on until Ctrl-C."""
    seen: dict[str, list] = {}

    async def capture(servers, workers=(), feeders=()) -> None:
        seen.update(workers=list(workers))

    class Backfill:
        days, camera_days = 35, 1

        async def run(self, stop: asyncio.Event) -> dict[str, int]:
            return {"events": 0, "heartbeats": 0}

    monkeypatch.setattr(serve, "serve_all", capture)
    components._run(settings_for_run, [], backfill=Backfill())
    [history] = seen["workers"]

    async def written_then_stopped() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(history(stop))
        for _ in range(20):  # the backfill has long returned
            await asyncio.sleep(0)  # ok: one turn of the event loop, no time passes
        assert not task.done()
        stop.set()
        await task

    asyncio.run(written_then_stopped())


async def test_an_idle_connection_is_kept_between_two_polls() -> None:
    """A dashboard polls every 5–10 s: its connection, idle that long, still carries the next request."""
    from fastapi import FastAPI

    from services.core import serve
    from tests.e2e.harness import free_port, until

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    port = free_port()
    server = serve.server(app, "127.0.0.1", port, "warning")
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started, what="the server started")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        for _ in range(2):
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(6)  # ok: the idle time is what is tested — longer than uvicorn's own 5 s
        writer.close()
    finally:
        server.should_exit = True
        await task
