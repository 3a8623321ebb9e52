"""The consumer loop shared by every Kafka → TimescaleDB pipeline: batch, decode, dead-letter, write, commit.

A `Pipeline` names a topic, a pure `decode` (bytes → item, raising `ValueError` with a reason for a poison
message) and a `write` that stores a batch in one database transaction. The loop here does the I/O around them:
- batches by size and time: it waits up to `batch_wait_s` for the first records, then takes whatever else has
  already arrived (up to `batch_max`) without waiting more, so a quiet stream is written at once and a busy one
  in large COPYs;
- fetches and decodes the next batch while the previous one is being written, in takes of at most
  TAKE_MAX_BYTES; what is decoded while the writer is busy joins the batch waiting for it, up to `batch_max` and
  `batch_max_bytes` (`_Handover`): small batches when the writer keeps up, big ones when it does not; written
  and committed strictly in order;
- sends undecodable messages (and the bad items of a message that holds many) to the pipeline's dead-letter
  topic with reason, stage, partition and offset, and waits for Kafka to acknowledge them before going on;
- retries the write with backoff while the database is unreachable; isolates rows the database refuses by
  bisecting the batch, and dead-letters only those (stage `write`);
- commits offsets only after the write committed (a crash before that replays the batch, and the writers are
  idempotent, so nothing is lost and nothing is stored twice);
- runs the pipeline's background work beside the loop (`background.py`: upkeep in a thread, the rollup's queue in a
  process of its own, started when the queue first holds work);
- on stop, finishes the batches in hand, commits and leaves the group.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter, Gauge, Histogram

from services.core import kafka
from services.core.db import DbConn, connect
from services.core.settings import Settings
from services.ingest.background import Background, run_background

log = logging.getLogger("pulse.ingest")
T = TypeVar("T")
STATEMENT_TIMEOUT_S = 300

MESSAGES = Counter("pulse_ingest_messages_total", "Messages consumed", ["topic"])
ROWS_WRITTEN = Counter("pulse_ingest_rows_written_total", "Rows newly stored", ["topic"])
DUPLICATES = Counter("pulse_ingest_duplicates_total", "Rows already stored (replays, retries)", ["topic"])
DEAD_LETTERS = Counter("pulse_ingest_dead_letters_total", "Messages sent to the dead-letter topic", ["topic", "stage"])
BATCH_SECONDS = Histogram("pulse_ingest_batch_seconds", "Time to write and commit one batch", ["topic"])
LAG = Gauge("pulse_ingest_consumer_lag", "Messages not yet stored (end offset − committed offset)", ["topic"])
LAG_EVERY_S = 5.0
DB_RETRIES = Counter("pulse_ingest_db_retries_total", "Writes retried because the database was unreachable", ["topic"])


@dataclass
class Pipeline(Generic[T]):
    topic: str
    dlq_topic: str
    group_id: str
    decode: Callable[[bytes | None], T]
    # Stores a batch in one transaction; returns how many rows were new.
    write: Callable[[DbConn, Sequence[T]], int]
    # Work beside the loop: upkeep, and a queue worked off in a process of its own (the rollup).
    background: Background | None = None
    # How many rows one decoded message holds (an app-events message carries one subject's batch).
    rows: Callable[[T], int] = lambda _: 1
    # Items of a decoded message set aside, each with its reason naming it (e.g. `items[3]: invalid: ts: …`):
    # dead-lettered one by one while the rest of the message is written.
    rejected: Callable[[T], Sequence[str]] = lambda _: ()
    batch_max: int = 20_000
    # Messages of many rows (a gateway's chunk of heartbeats) fill a batch by size before they reach batch_max.
    # Both bound a batch as written, grown while the writer was busy (one take is at most TAKE_MAX_BYTES).
    batch_max_bytes: int = 8 << 20
    batch_wait_s: float = 0.5


def open_connection(settings: Settings) -> DbConn:
    conn = connect(settings, autocommit=True)
    # A statement stuck behind a lock (or running away) becomes an error that is retried and counted, never a
    # pipeline that silently stops: a batch or a rollup step takes seconds at most.
    conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT_S}s'")
    return conn


@dataclass
class _Poison:
    record: ConsumerRecord
    reason: str
    stage: str


def dead_letter(record: ConsumerRecord, reason: str, stage: str) -> bytes:
    """The dead-letter record: the original payload with why, where and when it failed."""
    value: bytes | None = record.value
    try:
        payload: Any = value.decode() if value is not None else None
        encoding = "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(value or b"").decode(), "base64"
    body = {
        "reason": reason,
        "stage": stage,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode(errors="replace") if record.key else None,
        "payload": payload,
        "payload_encoding": encoding,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass
class _Writer(Generic[T]):
    """Owns the database connection of one consumer; runs in a worker thread."""

    settings: Settings
    pipeline: Pipeline[T]
    stop: asyncio.Event
    conn: DbConn | None = None
    refused: list[tuple[T, str]] = field(default_factory=list)

    def _connection(self) -> DbConn:
        if self.conn is None or self.conn.closed:
            self.conn = open_connection(self.settings)
        return self.conn

    def write(self, items: Sequence[T]) -> int:
        """Write with retries while the database is unreachable; returns rows stored. Rows the database
        refuses (data errors) are set aside in `refused` for the dead-letter topic."""
        delay = 0.2
        while True:
            try:
                return self._write_isolating(self._connection(), list(items))
            except psycopg.OperationalError as exc:
                if self.stop.is_set():
                    raise
                DB_RETRIES.labels(self.pipeline.topic).inc()
                log.warning("database unreachable or timed out (%s); retrying in %.1f s", type(exc).__name__, delay)
                self.close()
                time.sleep(delay)  # a worker thread: the event loop keeps the consumer alive meanwhile
                delay = min(delay * 2, 5.0)

    def _write_isolating(self, conn: DbConn, items: list[T]) -> int:
        try:
            return self.pipeline.write(conn, items)
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded) as exc:
            if len(items) == 1:
                self.refused.append((items[0], f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"))
                return 0
            half = len(items) // 2
            return self._write_isolating(conn, items[:half]) + self._write_isolating(conn, items[half:])

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


@dataclass
class _Batch(Generic[T]):
    records: list[ConsumerRecord]
    items: list[T]
    origin: dict[int, ConsumerRecord]
    poison: list[_Poison]
    size: int = 0  # bytes of the records' values

    def extend(self, later: _Batch[T]) -> None:
        self.records += later.records
        self.items += later.items
        self.origin.update(later.origin)
        self.poison += later.poison
        self.size += later.size


class _Handover(Generic[T]):
    """The decoded batch waiting for the writer. While the writer is busy, what is decoded meanwhile joins it, up
    to the pipeline's batch bounds: a batch is small when the writer is free (written at once while the next is
    decoded: the two overlap) and grows while a write takes long (the per-batch work, per camera for heartbeats,
    spreads over more rows). Taken in order, so offsets are still committed in order."""

    def __init__(self, pipeline: Pipeline[T]) -> None:
        self.pipeline = pipeline
        self.waiting: _Batch[T] | None = None
        self.closed = False
        self.changed = asyncio.Condition()

    def _fits(self, batch: _Batch[T]) -> bool:
        w = self.waiting
        return w is None or (
            len(w.records) + len(batch.records) <= self.pipeline.batch_max
            and w.size + batch.size <= self.pipeline.batch_max_bytes
        )

    async def put(self, batch: _Batch[T]) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self._fits(batch))
            if self.waiting is None:
                self.waiting = batch
            else:
                self.waiting.extend(batch)
            self.changed.notify_all()

    async def close(self) -> None:
        async with self.changed:
            self.closed = True
            self.changed.notify_all()

    async def take(self) -> _Batch[T] | None:
        """The waiting batch; None once closed with nothing waiting."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.waiting is not None or self.closed)
            batch, self.waiting = self.waiting, None
            self.changed.notify_all()
            return batch


# Allocations between two young-generation collections of the cyclic GC (Python's default: 700). A pipeline holds a
# batch's rows — hundreds of thousands of small tuples — while it decodes the next one, and with the default the
# collector walked them again and again: half the time of decoding a heartbeat message, measured (issue 19).
# The rows are freed by reference counting; the collector is only there for the rare cycle, and still runs.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """The process's collector set for a pipeline: what was loaded at start-up (modules, settings) never walked
    again (`gc.freeze`), young collections every GC_YOUNG_THRESHOLD allocations."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def run_pipeline(settings: Settings, pipeline: Pipeline[T], stop: asyncio.Event) -> None:
    tune_gc()
    consumer = AIOKafkaConsumer(
        pipeline.topic,
        **kafka.client_options(settings),
        group_id=pipeline.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=pipeline.batch_max,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        max_poll_interval_ms=600_000,
    )
    dlq = AIOKafkaProducer(**kafka.client_options(settings), acks="all", enable_idempotence=True)
    writer: _Writer[T] = _Writer(settings, pipeline, stop)
    handover: _Handover[T] = _Handover(pipeline)
    await consumer.start()
    await dlq.start()
    log.info("consuming %s as group %s", pipeline.topic, pipeline.group_id)

    async def fetch() -> None:
        try:
            while not stop.is_set():
                records, size = await _next_batch(consumer, pipeline, stop)
                if records:
                    await handover.put(_decode(pipeline, records, size))
                    await asyncio.sleep(0)  # a free writer takes it now, not after the next take is decoded
        finally:
            await handover.close()

    async def write() -> None:
        while (batch := await handover.take()) is not None:
            await _handle_batch(consumer, dlq, writer, pipeline, batch)

    async def watch_lag() -> None:
        # On its own clock and from the committed offsets: a writer stuck on the database must show as lag.
        while not stop.is_set():
            try:
                await _update_lag(consumer, pipeline.topic)
            except Exception as exc:  # Kafka away or a rebalance: the next round reads again
                log.debug("lag not read (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=LAG_EVERY_S)

    async def background() -> None:
        if pipeline.background is not None:
            await run_background(settings, pipeline.background, open_connection, pipeline.topic, stop)

    tasks = [asyncio.create_task(job()) for job in (fetch, write, background, watch_lag)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await consumer.stop()  # leaves the group; offsets were committed after each batch
        await dlq.stop()
        await asyncio.to_thread(writer.close)


async def _next_batch(
    consumer: AIOKafkaConsumer, pipeline: Pipeline[Any], stop: asyncio.Event
) -> tuple[list[ConsumerRecord], int]:
    """The next take of records, and the bytes of their values."""
    records: list[ConsumerRecord] = []
    size = 0
    timeout_ms = int(pipeline.batch_wait_s * 1000)
    take_bytes = min(pipeline.batch_max_bytes, TAKE_MAX_BYTES)
    while len(records) < pipeline.batch_max and size < take_bytes and not stop.is_set():
        # As many messages as the bytes left allow, judged by the messages so far (a few to begin with): the
        # client may hold far more than a batch already fetched — 74 MB of heartbeat chunks were seen taken in
        # one call — and a batch is decoded whole before its write begins, so nothing would overlap.
        fits = (take_bytes - size) // max(1, size // len(records)) + 1 if records else FIRST_TAKE
        wanted = min(pipeline.batch_max - len(records), fits)
        fetched = await consumer.getmany(timeout_ms=timeout_ms, max_records=wanted)
        for part in fetched.values():
            records.extend(part)
            size += sum(len(r.value or b"") for r in part)
        if not fetched:
            break
        timeout_ms = 0  # take what has already arrived, but do not wait for more
    return records, size


FIRST_TAKE = 16  # messages taken first when a batch begins, to judge their size
TAKE_MAX_BYTES = 8 << 20  # what is fetched and decoded before it is handed to the writer (it may grow: _Handover)


def _decode(pipeline: Pipeline[T], records: list[ConsumerRecord], size: int) -> _Batch[T]:
    MESSAGES.labels(pipeline.topic).inc(len(records))
    batch: _Batch[T] = _Batch(records, [], {}, [], size)
    for record in records:
        try:
            item = pipeline.decode(record.value)
        except ValueError as exc:
            batch.poison.append(_Poison(record, str(exc), "decode"))
            continue
        batch.origin[id(item)] = record
        batch.items.append(item)
        batch.poison.extend(_Poison(record, reason, "decode") for reason in pipeline.rejected(item))
    return batch


async def _handle_batch(
    consumer: AIOKafkaConsumer, dlq: AIOKafkaProducer, writer: _Writer[T], pipeline: Pipeline[T], batch: _Batch[T]
) -> None:
    started = time.monotonic()
    records, items, origin, poison = batch.records, batch.items, batch.origin, batch.poison
    writer.refused.clear()
    stored = await asyncio.to_thread(writer.write, items)
    poison += [_Poison(origin[id(item)], reason, "write") for item, reason in writer.refused]
    if poison:
        futures = [
            await dlq.send(pipeline.dlq_topic, dead_letter(p.record, p.reason, p.stage), key=p.record.key)
            for p in poison
        ]
        await asyncio.gather(*futures)
        for p in poison:
            DEAD_LETTERS.labels(pipeline.topic, p.stage).inc()
            log.warning("dead-lettered %s[%d]@%d: %s", p.record.topic, p.record.partition, p.record.offset, p.reason)
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, KafkaError) as exc:
        # The group moved on (rebalance): the batch is stored; whoever owns the partition now replays it and
        # the writers' deduplication keeps it stored once.
        log.warning("offset commit failed after a stored batch (%s); it will be replayed and deduplicated", exc)
    ROWS_WRITTEN.labels(pipeline.topic).inc(stored)
    offered = sum(pipeline.rows(item) for item in items) - sum(pipeline.rows(item) for item, _ in writer.refused)
    DUPLICATES.labels(pipeline.topic).inc(max(0, offered - stored))
    BATCH_SECONDS.labels(pipeline.topic).observe(time.monotonic() - started)


async def _update_lag(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Messages of this consumer's partitions not yet committed, i.e. not yet stored (offsets are committed after
    the database commit)."""
    parts = sorted(consumer.assignment())
    if not parts:
        return
    ends = await consumer.end_offsets(parts)
    starts = await consumer.beginning_offsets(parts)
    lag = 0
    for tp in parts:
        committed = await consumer.committed(tp)
        lag += max(0, ends[tp] - (starts[tp] if committed is None else committed))
    LAG.labels(topic).set(lag)
