"""`pulse ingest`: the heartbeat pipeline and the app-event pipeline, side by side in one process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial

from services.core import kafka, uptime_days
from services.core.db import DbConn
from services.core.settings import Settings
from services.ingest import app_events
from services.ingest.app_events import EventRow
from services.ingest.background import Background
from services.ingest.consumer import Pipeline, run_pipeline
from services.ingest.event_writer import prune_seen, write_events
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatMessage, HeartbeatRow, KeepAlive, process_message
from services.ingest.rollup import rollup_queued, rollup_step


def _write_heartbeats(conn: DbConn, messages: Sequence[HeartbeatMessage]) -> int:
    items = [row for message in messages for row in message.rows]
    rows = [i for i in items if isinstance(i, HeartbeatRow)]
    keepalives = [i for i in items if isinstance(i, KeepAlive)]
    return write_batch(conn, rows, keepalives).inserted


def heartbeat_pipeline(settings: Settings) -> Pipeline[HeartbeatMessage]:
    return Pipeline(
        topic=kafka.topic(settings, kafka.HEARTBEATS),
        dlq_topic=kafka.topic(settings, kafka.HEARTBEATS_DLQ),
        group_id=kafka.topic(settings, "pulse-ingest-heartbeats"),
        decode=process_message,
        write=_write_heartbeats,
        rows=lambda message: sum(isinstance(r, HeartbeatRow) for r in message.rows),
        rejected=lambda message: message.rejected,
        # The rollup for the ranges the writer could not extend itself; the day rollup's changes folded after it
        # (cheap when little changed; readers sum what is not folded yet anyway).
        background=Background(upkeep=uptime_days.compact, every_s=0.2, queued=rollup_queued, work=rollup_step),
        batch_max=settings.ingest_batch_max,
        # Per batch ingest pays per camera (its summary, its interval extended, its status): a backlog drains
        # fastest in big batches — 600,000 heartbeats of 5,000 cameras: 143,500/s in batches of 32 MiB of
        # messages, 105,400/s in 8 MiB (benchmarks.md §2). A live stream's batches are what arrived meanwhile.
        batch_max_bytes=32 << 20,
    )


def _write_events(conn: DbConn, messages: Sequence[tuple[EventRow, ...]]) -> int:
    return write_events(conn, [row for rows in messages for row in rows])


def app_event_pipeline(settings: Settings) -> Pipeline[tuple[EventRow, ...]]:
    return Pipeline(
        topic=kafka.topic(settings, kafka.APP_EVENTS),
        dlq_topic=kafka.topic(settings, kafka.APP_EVENTS_DLQ),
        group_id=kafka.topic(settings, "pulse-ingest-app-events"),
        decode=partial(app_events.process_message, tz=settings.tz),
        write=_write_events,
        rows=len,
        background=Background(upkeep=prune_seen, every_s=60.0),
        batch_max=settings.ingest_batch_max,
    )


async def run_ingest(settings: Settings, stop: asyncio.Event) -> None:
    await kafka.ensure_topics(settings)
    await asyncio.gather(
        run_pipeline(settings, heartbeat_pipeline(settings), stop),
        run_pipeline(settings, app_event_pipeline(settings), stop),
    )
