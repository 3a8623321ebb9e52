"""`pulse alerts`: one leader at a time evaluates incidents every `PULSE_ALERT_TICK_S` and delivers the outbox.

Leadership is a PostgreSQL advisory lock held on a connection of its own: several instances can run (one per
machine, say); the one holding the lock works, the others wait and take over within a second or two when the
leader dies (its connection closes and the lock goes with it). Every change a tick makes is one transaction and
every notification a row with a unique idempotency key, so a new leader continues where the old one stopped
without repeating a message — except one whose delivery succeeded just before the old leader died and was not yet
marked sent; that one is sent again with the same idempotency key, for the receiver to drop.

The pipeline watch asks Kafka for the ingest group's committed offsets and the topic's end offsets: when messages
wait and the committed offsets have not moved for `PULSE_PIPELINE_STALL_S` (or more than `PULSE_PIPELINE_LAG_MAX`
wait, or Kafka does not answer), ingest is stalled and camera alerts are held (SPEC §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from services.alerts import outbox
from services.alerts.engine import Engine
from services.core import kafka
from services.core.db import DbConn, connect
from services.core.settings import Settings

log = logging.getLogger("pulse.alerts")
LEADER = Gauge("pulse_alerts_leader", "1 while this instance holds the alerts lock")
LAG = Gauge("pulse_alerts_ingest_lag", "Heartbeat messages not yet committed by ingest, as the alerts see it")
LOCK_KEY = 0x70756C7365  # "pulse"


class PipelineWatch:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = kafka.topic(settings, kafka.HEARTBEATS)
        self.group = kafka.topic(settings, "pulse-ingest-heartbeats")
        self.last_committed: dict[int, int] = {}
        self.moved_at = time.monotonic()
        self.stalled = False

    async def check(self) -> bool:
        try:
            lag, committed = await asyncio.wait_for(self._lag(), timeout=10)
        except Exception as exc:  # Kafka away or not answering: nothing is being delivered
            log.warning("pipeline watch: Kafka does not answer (%s)", exc.__class__.__name__)
            self.stalled = True
            return True
        LAG.set(lag)
        if committed != self.last_committed or lag == 0:
            self.last_committed, self.moved_at = committed, time.monotonic()
        waited = time.monotonic() - self.moved_at
        self.stalled = lag > self.settings.pipeline_lag_max or (lag > 0 and waited > self.settings.pipeline_stall_s)
        return self.stalled

    async def _lag(self) -> tuple[int, dict[int, int]]:
        admin = AIOKafkaAdminClient(**kafka.client_options(self.settings), request_timeout_ms=5000)
        consumer = AIOKafkaConsumer(**kafka.client_options(self.settings), request_timeout_ms=5000)
        try:  # stopped even when a start fails (Kafka away): an unclosed client leaks each check
            await admin.start()
            await consumer.start()
            partitions = consumer.partitions_for_topic(self.topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            ends = await consumer.end_offsets(tps) if tps else {}
            offsets = await admin.list_consumer_group_offsets(self.group)
            committed = {tp.partition: offsets[tp].offset for tp in tps if tp in offsets and offsets[tp].offset >= 0}
            lag = sum(max(0, ends[tp] - committed.get(tp.partition, 0)) for tp in tps)
            return lag, committed
        finally:
            await consumer.stop()
            await admin.close()


def _monthly_report(conn: DbConn, settings: Settings, now: datetime) -> None:
    """Issue last month's report if it is due; a failure is logged and retried, never stops the alerts."""
    from services.reports.issue import run_schedule

    try:
        run_schedule(conn, settings, now)
    except psycopg.OperationalError:
        raise
    except Exception:
        log.exception("the monthly report could not be issued; retrying in a minute")


async def run_alerts(
    settings: Settings, stop: asyncio.Event, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> None:
    engine = Engine(settings)
    watch = PipelineWatch(settings)
    lock_conn: DbConn | None = None
    work_conn: DbConn | None = None
    next_watch = 0.0
    next_report_check, report_day = 0.0, None
    leader = False
    async with httpx.AsyncClient(timeout=15) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                if lock_conn is None or lock_conn.closed:
                    lock_conn, leader = await asyncio.to_thread(connect, settings, autocommit=True), False
                if leader:  # the lock lives as long as its session: check the session is alive
                    await asyncio.to_thread(lock_conn.execute, "SELECT 1")
                else:
                    leader = await asyncio.to_thread(_take_lock, lock_conn)
                    if leader:
                        log.info("this instance leads the alerts")
                LEADER.set(1 if leader else 0)
                if leader:
                    if work_conn is None or work_conn.closed:
                        work_conn = await asyncio.to_thread(connect, settings, autocommit=True)
                    if time.monotonic() >= next_watch:
                        await watch.check()
                        next_watch = time.monotonic() + min(5.0, settings.alert_tick_s * 2)
                    now = clock()
                    await asyncio.to_thread(engine.tick, work_conn, now, pipeline_stalled=watch.stalled)
                    # The monthly briefing: checked when the local day changes, and once a minute (a retry).
                    if now.astimezone(settings.tz).date() != report_day or time.monotonic() >= next_report_check:
                        next_report_check, report_day = time.monotonic() + 60, now.astimezone(settings.tz).date()
                        await asyncio.to_thread(_monthly_report, work_conn, settings, now)
                    await outbox.deliver_due(work_conn, http, settings, clock())
                else:
                    engine.last_state.clear()  # a follower starts afresh when it becomes leader
                    engine.started = False
            except psycopg.OperationalError as exc:
                log.warning("database unreachable (%s); retrying", exc.__class__.__name__)
                for c in (lock_conn, work_conn):
                    if c is not None:
                        with contextlib.suppress(Exception):
                            c.close()
                lock_conn = work_conn = None
                leader = False
                LEADER.set(0)
            rest = max(0.05, settings.alert_tick_s - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rest)
    for c in (lock_conn, work_conn):
        if c is not None:
            c.close()


def _take_lock(conn: DbConn) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (LOCK_KEY,)).fetchone()
    return bool(row and row["ok"])
