"""Run the HTTP components with uvicorn: one (`pulse api`) or several in one process (`pulse up`).

Uvicorn installs its own signal handlers per server; with several servers in one event loop only one would
see Ctrl-C, so the servers here leave signals to `serve_all`, which stops them all together.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any

import uvicorn
from fastapi import FastAPI


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def server(app: FastAPI, host: str, port: int, log_level: str = "info") -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level.lower(), access_log=False, server_header=False
    )
    return _QuietServer(config)


async def serve_all(
    servers: Iterable[uvicorn.Server], workers: Iterable[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = ()
) -> None:
    """Serve until SIGINT/SIGTERM; background workers get the stop event and must return when it is set."""
    servers = list(servers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def stopper() -> None:
        await stop.wait()
        for s in servers:
            s.should_exit = True

    tasks = [asyncio.create_task(s.serve()) for s in servers]
    tasks += [asyncio.create_task(w(stop)) for w in workers]
    tasks.append(asyncio.create_task(stopper()))
    try:
        done, _ = await asyncio.wait(tasks[:-1], return_when=asyncio.FIRST_COMPLETED)
        stop.set()  # one ended (or failed): stop the rest too
        await asyncio.gather(*tasks, return_exceptions=True)
        for t in done:
            error = t.exception()
            if error is not None:
                raise error
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
