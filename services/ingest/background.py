"""Work beside a pipeline's consumer loop (`consumer.run_pipeline`): cheap upkeep in a thread, and a queue's heavy
work (the rollup) in a process of its own, started the first time the queue holds any.

Upkeep (folding the day rollup's changes, pruning seen app-event ids) is SQL the database does; the ingest process
only waits, so a thread is enough. The rollup's Python work (it reads heartbeats back and turns them into state
intervals) would share one interpreter lock with decoding and writing: 40,000 → 60,000 heartbeats/s stored and
rolled up in one experiment, so it has a process. Most heartbeats arrive in order and the writer extends their
intervals itself, so that process is started only when the queue has work — late or replayed ranges — and then
kept: its start is ≈ 0.4 s of CPU (spawn and imports), which a pipeline that never needs it does not pay
(docs/benchmarks.md §1). The queue stays in the database, so a step cut short loses nothing.
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
from dataclasses import dataclass
from typing import NamedTuple

import psycopg
from prometheus_client import Counter

from services.core.db import DbConn
from services.core.settings import Settings

log = logging.getLogger("pulse.ingest")
BACKGROUND_ERRORS = Counter("pulse_ingest_background_errors_total", "Failed rollup steps", ["topic"])


@dataclass(frozen=True)
class Background:
    """What a pipeline does beside its loop, every `every_s`: first the queue's work while `queued` says there is
    some (each `work` step in the process, returning how much it did), then `upkeep` (in a thread). The functions
    are module-level: `work` is sent to the process by name."""

    upkeep: Callable[[DbConn], int]
    every_s: float
    queued: Callable[[DbConn], bool] | None = None
    work: Callable[[DbConn], int] | None = None


# In the background process: its connection, and the step it runs.
_worker: tuple[_OwnConnection, Callable[[DbConn], int]] | None = None


def _start_background_process(
    settings: Settings, step: Callable[[DbConn], int], connect: Callable[[Settings], DbConn], parent: int
) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops this process in order
    _worker = (_OwnConnection(settings, connect), step)
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


def _outcome(work: Callable[[], int]) -> _StepOutcome:
    """One step; a step that does not complete loses nothing (the work stays in the database), and the caller
    logs the problem, then tries again."""
    try:
        return _StepOutcome(work())
    except psycopg.OperationalError as exc:
        return _StepOutcome(0, f"interrupted ({type(exc).__name__}); the queue keeps the work")
    except psycopg.Error as exc:
        # A bug or bad data must not stop ingest: the queue keeps the work until someone fixes it.
        return _StepOutcome(0, f"failed: {exc}", fault=True)


def _background_step() -> _StepOutcome:
    """One step of the queue's work, in the background process."""
    assert _worker is not None
    connection, step = _worker
    return connection.run(step)


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


class _OwnConnection:
    """A connection of its own for steps (the ingest process's for `queued` and `upkeep` — the writer's is busy in
    its thread — and the background process's), opened again after a failure."""

    def __init__(self, settings: Settings, connect: Callable[[Settings], DbConn]) -> None:
        self.settings, self.connect = settings, connect
        self.conn: DbConn | None = None

    def run(self, step: Callable[[DbConn], int]) -> _StepOutcome:
        outcome = _outcome(lambda: step(self._open()))
        if outcome.problem is not None and not outcome.fault:
            self.close()  # the database went away: a new connection next time
        return outcome

    def _open(self) -> DbConn:
        if self.conn is None or self.conn.closed:
            self.conn = self.connect(self.settings)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def run_background(
    settings: Settings,
    background: Background,
    connect: Callable[[Settings], DbConn],
    topic: str,
    stop: asyncio.Event,
) -> None:
    """Rest, then do what is there: work queued meanwhile is handled in larger, cheaper steps (the rollup costs per
    camera more than per heartbeat), at most `every_s` behind the writes. `connect` opens a connection (a
    module-level function: it is sent to the process by name)."""
    loop = asyncio.get_running_loop()
    local = _OwnConnection(settings, connect)
    pool: ProcessPoolExecutor | None = None

    def report(outcome: _StepOutcome) -> None:
        if outcome.fault:
            BACKGROUND_ERRORS.labels(topic).inc()
            log.error("background step %s", outcome.problem)
        elif outcome.problem is not None:
            log.warning("background step %s", outcome.problem)

    async def work_queued() -> None:
        nonlocal pool
        assert background.work is not None and background.queued is not None
        queued = background.queued
        while not stop.is_set():
            is_queued = await asyncio.to_thread(local.run, lambda conn: int(queued(conn)))
            report(is_queued)
            if not is_queued.done:
                return
            pool = pool or _background_pool(settings, background.work, connect)
            try:
                outcome = await loop.run_in_executor(pool, _background_step)
            except BrokenProcessPool:
                if stop.is_set():
                    return
                log.error("the background process died; starting a new one")
                pool.shutdown(wait=False)
                pool = None
                continue
            report(outcome)
            if not outcome.done:
                return

    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=background.every_s)
            if stop.is_set():
                break
            if background.work is not None:
                await work_queued()
            report(await asyncio.to_thread(local.run, background.upkeep))
    finally:
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)  # lets a running step finish (seconds at most)
        await asyncio.to_thread(local.close)
