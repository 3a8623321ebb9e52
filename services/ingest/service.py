"""`pulse ingest`: the heartbeat pipeline (and, with its issue, the app-events pipeline) in one process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.core import kafka
from services.core.db import DbConn
from services.core.settings import Settings
from services.ingest.consumer import Pipeline, run_pipeline
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatRow, KeepAlive, process_message
from services.ingest.rollup import rollup_step


def _write_heartbeats(conn: DbConn, items: Sequence[HeartbeatRow | KeepAlive]) -> int:
    rows = [i for i in items if isinstance(i, HeartbeatRow)]
    keepalives = [i for i in items if isinstance(i, KeepAlive)]
    return write_batch(conn, rows, keepalives).inserted


def _rollup(conn: DbConn) -> int:
    return rollup_step(conn)


def heartbeat_pipeline(settings: Settings) -> Pipeline[HeartbeatRow | KeepAlive]:
    return Pipeline(
        topic=kafka.topic(settings, kafka.HEARTBEATS),
        dlq_topic=kafka.topic(settings, kafka.HEARTBEATS_DLQ),
        group_id=kafka.topic(settings, "pulse-ingest-heartbeats"),
        decode=process_message,
        write=_write_heartbeats,
        background=_rollup,
        batch_max=settings.ingest_batch_max,
    )


async def run_ingest(settings: Settings, stop: asyncio.Event) -> None:
    await kafka.ensure_topics(settings)
    await run_pipeline(settings, heartbeat_pipeline(settings), stop)
