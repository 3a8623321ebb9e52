"""The pipeline's background step (the rollup, the pruning of seen app-event ids) in a process of its own, beside
the consumer loop (`consumer.run_pipeline`).

In the ingest process its Python work (the rollup turns every stored heartbeat back into state intervals) would
share one interpreter lock with decoding and writing: 40,000 → 60,000 heartbeats/s stored and rolled up in one
experiment (docs/benchmarks.md §1). The queue stays in the database, so a step cut short loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import NamedTuple

import psycopg
from prometheus_client import Counter

from services.core.db import DbConn
from services.core.settings import Settings

log = logging.getLogger("pulse.ingest")
BACKGROUND_ERRORS = Counter("pulse_ingest_background_errors_total", "Failed rollup steps", ["topic"])

# In the background process: what it runs, and its connection.
_background: tuple[Settings, Callable[[DbConn], int], Callable[[Settings], DbConn]] | None = None
_background_conn: DbConn | None = None


def _start_background_process(
    settings: Settings, step: Callable[[DbConn], int], connect: Callable[[Settings], DbConn], parent: int
) -> None:
    global _background
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops this process in order
    _background = (settings, step, connect)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    # A parent killed outright (SIGKILL, OOM) cannot stop its pool; an orphan would go on holding a database
    # connection. A step cut short is rolled back and its queue entries stay for the next process.
    while os.getppid() == parent:
        time.sleep(1)  # ok: a watchdog, not a wait for a condition this process controls
    os._exit(1)


class _StepOutcome(NamedTuple):
    done: int  # queue entries handled (0: nothing to do, or the step did not complete)
    problem: str | None = None
    fault: bool = False  # a failure worth counting (not the database being away)


def _background_step() -> _StepOutcome:
    """One step in the background process. The queue stays in the database, so a step that does not complete
    loses nothing; the parent logs the problem, then tries again."""
    global _background_conn
    assert _background is not None
    settings, step, connect = _background
    try:
        if _background_conn is None or _background_conn.closed:
            _background_conn = connect(settings)
        return _StepOutcome(step(_background_conn))
    except psycopg.OperationalError as exc:
        _background_conn = None
        return _StepOutcome(0, f"interrupted ({type(exc).__name__}); the queue keeps the work")
    except psycopg.Error as exc:
        # A bug or bad data must not stop ingest: the queue keeps the work until someone fixes it.
        return _StepOutcome(0, f"failed: {exc}", fault=True)


def _background_pool(
    settings: Settings, step: Callable[[DbConn], int], connect: Callable[[Settings], DbConn]
) -> ProcessPoolExecutor:
    # spawn: forking a process that already runs threads and an event loop is unsafe.
    return ProcessPoolExecutor(
        1,
        mp_context=mp.get_context("spawn"),
        initializer=_start_background_process,
        initargs=(settings, step, connect, os.getpid()),
    )


async def run_background(
    settings: Settings,
    step: Callable[[DbConn], int],
    connect: Callable[[Settings], DbConn],
    topic: str,
    every_s: float,
    stop: asyncio.Event,
) -> None:
    """Rest, then drain the queue: work queued meanwhile is handled in larger, cheaper steps (the rollup costs per
        camera more than per heartbeat), at most `every_s` behind the writes. The process is spawned at once, while
        the consumer joins its group and the machine waits on the network: its imports take about half a second of
        CPU, which the first batches would otherwise share a core with. `connect` opens the process's connection (a
    module-level function: it is sent to the process by name)."""
    loop = asyncio.get_running_loop()
    pool = _background_pool(settings, step, connect)
    try:
        with contextlib.suppress(BrokenProcessPool):  # the first step below starts a new one
            await loop.run_in_executor(pool, int)  # nothing to do: starts the process
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            while not stop.is_set():
                try:
                    outcome = await loop.run_in_executor(pool, _background_step)
                except BrokenProcessPool:
                    if stop.is_set():
                        break
                    log.error("the background process died; starting a new one")
                    pool.shutdown(wait=False)
                    pool = _background_pool(settings, step, connect)
                    outcome = _StepOutcome(0)
                if outcome.fault:
                    BACKGROUND_ERRORS.labels(topic).inc()
                    log.error("background step %s", outcome.problem)
                elif outcome.problem is not None:
                    log.warning("background step %s", outcome.problem)
                if not outcome.done:
                    break
    finally:
        await asyncio.to_thread(pool.shutdown)  # lets a running step finish (seconds at most)
