"""Run the HTTP components with uvicorn: one (`pulse api`) or several in one process (`pulse up`).

Uvicorn installs its own signal handlers per server; with several servers in one event loop only one would
see Ctrl-C, so the servers here leave signals to `serve_all`, which stops them all: first what feeds the servers
(the demo's simulator), then the servers and the background workers together.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any

import uvicorn
from fastapi import FastAPI


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits for every answer in progress: an app's endless ones (the API's live stream) are told first.
        stopping = getattr(getattr(self.config.app, "state", None), "stopping", None)
        if isinstance(stopping, asyncio.Event):
            stopping.set()
        await super().shutdown(sockets)


# How long an idle keep-alive connection stays open. uvicorn's 5 s closed every dashboard's and gateway's connection
# between two polls (every 5–10 s): each poll paid a new connection, and a request sent as the server closed the
# idle one failed (`ReadError` in bench.dashboard_sessions at 150,000 cameras). 75 s, as nginx keeps them.
KEEP_ALIVE_S = 75


def server(app: FastAPI, host: str, port: int, log_level: str = "info") -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return _QuietServer(config)


Worker = Callable[[asyncio.Event], Coroutine[Any, Any, Any]]


async def serve_all(
    servers: Iterable[uvicorn.Server], workers: Iterable[Worker] = (), feeders: Iterable[Worker] = ()
) -> None:
    """Serve until SIGINT/SIGTERM, or until one server, worker or feeder ends (or fails): then stop them all.

    Background workers get a stop event and must return when it is set. Feeders are workers that send to these
    servers (the demo's simulator): they get an event of their own, set first, and are awaited before the servers
    and the other workers are told to stop — so none of their requests meets a server on its way out."""
    servers = list(servers)
    interrupted = asyncio.Event()
    stop_feeders = asyncio.Event()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted.set)

    feeding = [asyncio.create_task(f(stop_feeders)) for f in feeders]
    running = [asyncio.create_task(s.serve()) for s in servers]
    running += [asyncio.create_task(w(stop)) for w in workers]
    signalled = asyncio.create_task(interrupted.wait())
    try:
        done, _ = await asyncio.wait([*feeding, *running, signalled], return_when=asyncio.FIRST_COMPLETED)
        # Ctrl-C, or one ended (or failed): the feeders finish their round while everything still answers, then
        # the rest stop together
        stop_feeders.set()
        await asyncio.gather(*feeding, return_exceptions=True)
        stop.set()
        for s in servers:
            s.should_exit = True
        await asyncio.gather(*running, return_exceptions=True)
        for t in done:
            error = None if t is signalled else t.exception()
            if error is not None:
                raise error
    finally:
        signalled.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
