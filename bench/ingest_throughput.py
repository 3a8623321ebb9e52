"""Ingest throughput: heartbeats/s from Kafka into TimescaleDB, next to a raw COPY of the same rows.

In one run, on one fresh database (`pulse_bench_ingest`):
1. limit: raw `COPY heartbeats FROM STDIN` of all rows (no dedupe, nothing else);
2. the two ways the writer could insert with deduplication on (camera_id, ts), timed alone, in batches:
   COPY into a temporary staging table + `INSERT … SELECT … ON CONFLICT DO NOTHING` (what ingest uses), and
   `INSERT … SELECT FROM unnest(arrays) … ON CONFLICT DO NOTHING`;
3. the shipped writer (`write_batch`: dedupe, camera status, rollup queue, watermarks) without Kafka;
4. the whole pipeline: the rows produced to a fresh topic first, then `run_pipeline` (Kafka consumer, decode,
   write, offset commits, rollup of state intervals) timed until every row is stored and rolled up.
`pipeline_rows_per_s` counts from the consumer's start (group join included) until every row is stored and
rolled up; `pipeline_after_group_join_rows_per_s` from the first stored row.
With `--peer`, Telegraf then moves the same topic into `heartbeats_peer` (bench/telegraf_peer.py): `peer_telegraf`.
Prints one JSON object. Usage: python -m bench.ingest_throughput [--cameras 5000] [--per-camera 40] [--peer]
[--database pulse_bench_ingest]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import uvloop
from aiokafka import AIOKafkaProducer

from bench.common import fresh_database, machine, poll_interval_s, stored_so_far
from bench.procs import (
    children_of,
    cpu_seconds,
    kafka_pids,
    postgres_pids,
    start_ingest_group,
    total_cpu_seconds,
)
from bench.telegraf_peer import run_peer
from services.core import accounts, kafka
from services.core.db import DbConn, connect
from services.core.heartbeats import Delivery, make_item, message_key, to_message, to_messages
from services.core.settings import load_settings
from services.ingest.consumer import DUPLICATES, ROWS_WRITTEN, run_pipeline
from services.ingest.heartbeat_writer import COLUMNS, copy_rows, write_batch
from services.ingest.heartbeats import JSONB_VERSION, HeartbeatRow, process_message
from services.ingest.rollup import rollup_queued
from services.ingest.service import heartbeat_pipeline

RAW_COLUMNS = ", ".join(COLUMNS)


def make_rows(cameras: int, per_camera: int, gateway_id: int) -> list[HeartbeatRow]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    delivery = Delivery(gateway_id, "2024", "15865", start + timedelta(days=1))
    items = [
        make_item(
            camera_id=f"cam-{c:05d}",
            ts=start + timedelta(seconds=60 * i),
            metrics={"fps": 25.0, "bitrate_kbps": 2048},
            quality={"blur": 310.5},
        )
        for i in range(per_camera)
        for c in range(cameras)
    ]
    return [row for value in to_messages(items, delivery) for row in process_message(value).rows]  # type: ignore[misc]


def readings(stored: bytes | None) -> dict | None:
    return msgspec.json.decode(json_text(stored)) if stored else None


def json_text(stored: bytes) -> bytes:
    """A row's readings (jsonb's binary form) as JSON text."""
    return stored.removeprefix(JSONB_VERSION)


def v1_message(row: HeartbeatRow) -> bytes:
    """A heartbeat as the previous version wrote it (wire version 1: one a message, keyed by camera)."""
    fields = {
        "v": 1,
        "kind": "heartbeat",
        "camera_id": row.camera_id,
        "ts": row.ts,
        "status": row.status,
        "metrics": msgspec.Raw(json_text(row.metrics)) if row.metrics else None,
        "quality": msgspec.Raw(json_text(row.quality)) if row.quality else None,
        "gateway_id": row.gateway_id,
        "unit_set": row.unit_set,
        "unit_code": row.unit_code,
        "received_at": row.received_at,
    }
    return msgspec.json.encode({k: v for k, v in fields.items() if v is not None})


def reset(conn: DbConn) -> None:
    conn.execute("TRUNCATE heartbeats, camera_status, camera_dirty, camera_intervals")


def time_raw_copy(conn: DbConn, rows: list[HeartbeatRow]) -> float:
    """The limit: one binary COPY of all rows into `heartbeats`, nothing else (the writer's own COPY routine)."""
    started = time.perf_counter()
    with conn.transaction():
        copy_rows(conn, "heartbeats", rows)
    return time.perf_counter() - started


def time_copy_stage_insert(conn: DbConn, rows: list[HeartbeatRow], batch: int) -> float:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS raw_stage (LIKE heartbeats) ON COMMIT DELETE ROWS")
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        with conn.transaction():
            copy_rows(conn, "raw_stage", rows[i : i + batch])
            conn.execute(
                f"INSERT INTO heartbeats ({RAW_COLUMNS}) SELECT {RAW_COLUMNS} FROM raw_stage"
                " ON CONFLICT (camera_id, ts) DO NOTHING"
            )
    return time.perf_counter() - started


def time_unnest_insert(conn: DbConn, rows: list[HeartbeatRow], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = [
            (
                r.ts,
                r.camera_id,
                r.status,
                r.seq,
                json_text(r.metrics).decode() if r.metrics else None,
                json_text(r.quality).decode() if r.quality else None,
                r.gateway_id,
                r.received_at,
            )
            for r in rows[i : i + batch]
        ]
        columns = list(zip(*chunk, strict=True))
        with conn.transaction():
            conn.execute(
                f"INSERT INTO heartbeats ({RAW_COLUMNS}) SELECT * FROM unnest(%s::timestamptz[], %s::text[],"
                " %s::text[], %s::bigint[], %s::jsonb[], %s::jsonb[], %s::bigint[], %s::timestamptz[])"
                " ON CONFLICT (camera_id, ts) DO NOTHING",
                [list(c) for c in columns],
            )
    return time.perf_counter() - started


def time_writer(conn: DbConn, rows: list[HeartbeatRow], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        write_batch(conn, rows[i : i + batch])
    return time.perf_counter() - started


async def produce(settings, rows: list[HeartbeatRow], gateway_id: int, chunk: int) -> float:
    """The rows into a fresh topic as the gateway writes them: messages of `chunk` heartbeats keyed by the gateway
    (wire version 2), or with `chunk` 0 one heartbeat a message keyed by camera (version 1, before issue 19)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1 << 20,
        compression_type="lz4",
    )
    await producer.start()
    topic = kafka.topic(settings, kafka.HEARTBEATS)
    started = time.perf_counter()
    try:
        futures = []
        if chunk == 0:
            for r in rows:
                futures.append(await producer.send(topic, v1_message(r), key=r.camera_id.encode()))
        else:
            delivery = Delivery(gateway_id, "2024", "15865", rows[0].received_at)
            for i in range(0, len(rows), chunk):
                items = [
                    make_item(camera_id=r.camera_id, ts=r.ts, metrics=readings(r.metrics), quality=readings(r.quality))
                    for r in rows[i : i + chunk]
                ]
                futures.append(await producer.send(topic, to_message(items, delivery), key=message_key(gateway_id)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def rolled_up(conn: DbConn) -> bool:
    """Nothing left in the rollup's queue."""
    return not rollup_queued(conn)


def cpu_by_process() -> dict[str, float]:
    """CPU seconds so far of what the pipeline runs on: this process (the pipeline, and the benchmark's polling),
    its children (ingest's rollup process), PostgreSQL (all its processes) and the Kafka broker."""
    return {
        "ingest process": cpu_seconds(os.getpid()),
        "ingest child processes (rollup)": total_cpu_seconds(children_of(os.getpid())),
        "postgresql": total_cpu_seconds(postgres_pids()),
        "kafka": total_cpu_seconds(kafka_pids()),
    }


async def time_pipeline(
    settings, conn: DbConn, expected: int, processes: int
) -> tuple[float, float, float, dict[str, float]]:
    """Seconds from start to: the first row stored (consumer group joined), every row stored, every row
    stored and rolled up into state intervals; and the CPU seconds each process used meanwhile (one ingest
    process only). `processes` > 1: that many `pulse ingest` processes in one consumer group instead of the
    pipeline in this process."""
    stop = asyncio.Event()
    cpu_before = cpu_by_process()
    started = time.perf_counter()
    components = None
    if processes > 1:
        components = start_ingest_group(settings, processes)
        task = asyncio.create_task(stop.wait())
    else:
        task = asyncio.create_task(run_pipeline(settings, heartbeat_pipeline(settings), stop))
    first = stored = None
    topic = kafka.topic(settings, kafka.HEARTBEATS)

    while True:
        n = stored_so_far(conn, topic, "heartbeats", processes)
        now = time.perf_counter() - started
        if n and first is None:
            first = now
        if n >= expected and stored is None:
            stored = now
        if stored is not None and rolled_up(conn):
            break
        if task.done():
            task.result()
        await asyncio.sleep(poll_interval_s(processes))
    elapsed = time.perf_counter() - started
    cpu = {name: round(seconds - cpu_before.get(name, 0.0), 2) for name, seconds in cpu_by_process().items()}
    stop.set()
    await task
    if components is not None:
        components.stop_all()
    return first or 0.0, stored or elapsed, elapsed, cpu


# What the pipeline leaves stored, to compare before and after a replay: every interval, and the rows.
_STORED = """
SELECT (SELECT count(*) FROM heartbeats) AS heartbeats,
       (SELECT md5(string_agg(format('%s %s %s %s', camera_id, start_ts, end_ts, state), ',' ORDER BY camera_id,
                              start_ts)) FROM camera_intervals) AS intervals
"""


async def time_replay(settings, conn: DbConn, expected: int) -> float:
    """The whole topic consumed again, once every row is stored, by a consumer group of its own — a backlog
    replayed after lost offsets: seconds until every message is processed and the rollup has redone what the
    replay queued. Nothing stored may change (checked: the rows and a digest of every interval)."""
    before = conn.execute(_STORED).fetchone()
    pipeline = dataclasses.replace(heartbeat_pipeline(settings), group_id=f"{uuid.uuid4().hex[:8]}.replay")

    def handled() -> int:
        return int(ROWS_WRITTEN.labels(pipeline.topic)._value.get() + DUPLICATES.labels(pipeline.topic)._value.get())

    already = handled()
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(run_pipeline(settings, pipeline, stop))
    while handled() - already < expected or not rolled_up(conn):
        if task.done():
            task.result()
        await asyncio.sleep(poll_interval_s(1))
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    after = conn.execute(_STORED).fetchone()
    if after != before:
        raise SystemExit(f"the replay changed what was stored: {before} → {after}")
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=5000)
    parser.add_argument("--per-camera", type=int, default=40)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=1, help="ingest processes in the consumer group")
    parser.add_argument(
        "--chunk", type=int, default=500, help="heartbeats per Kafka message (0: wire version 1, one per message)"
    )
    parser.add_argument("--database", default="pulse_bench_ingest", help="the benchmark's own database (recreated)")
    parser.add_argument(
        "--peer", action="store_true", help="then Telegraf on the same topic (bench.telegraf_peer; needs --chunk > 0)"
    )
    args = parser.parse_args()
    if args.peer and args.chunk == 0:
        parser.error("--peer reads wire version 2 only (--chunk > 0)")
    settings = fresh_database(load_settings(), args.database)
    settings = settings.model_copy(update={"kafka_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    with connect(settings, autocommit=True) as conn:
        accounts.create_gateway(conn, name="bench", unit_set="2024", unit_codes=["15865"])
        gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
        conn.execute(
            "INSERT INTO cameras (camera_id, unit_set, unit_code, gateway_id)"
            " SELECT format('cam-%%s', lpad(g::text, greatest(5, length(g::text)), '0')), '2024', '15865', %s"
            " FROM generate_series(0, %s - 1) g",
            (gateway_id, args.cameras),
        )
        rows = make_rows(args.cameras, args.per_camera, gateway_id)
        n = len(rows)
        results: dict[str, float] = {}
        results["raw_copy_s"] = time_raw_copy(conn, rows)
        reset(conn)
        results["copy_stage_insert_s"] = time_copy_stage_insert(conn, rows, args.batch)
        reset(conn)
        results["unnest_insert_s"] = time_unnest_insert(conn, rows, args.batch)
        reset(conn)
        results["writer_s"] = time_writer(conn, rows, args.batch)
        # The same batches again: every row is already stored, the fast COPY fails and the careful path runs.
        results["writer_replay_s"] = time_writer(conn, rows, args.batch)
        reset(conn)
        conn.execute("UPDATE gateways SET watermark = NULL")
        await kafka.ensure_topics(settings)
        produce_s = await produce(settings, rows, gateway_id, args.chunk)
        first, stored, rolled, cpu = await time_pipeline(settings, conn, n, args.processes)
        results["pipeline_s"] = rolled
        results["pipeline_first_row_s"] = first
        results["pipeline_all_stored_s"] = stored
        intervals = conn.execute("SELECT count(*) AS n FROM camera_intervals").fetchone()["n"]
        stored_rows = conn.execute("SELECT count(*) AS n FROM heartbeats").fetchone()["n"]
        if stored_rows != n:
            raise SystemExit(f"the pipeline stored {stored_rows} heartbeats of {n}")
        if args.processes == 1:
            results["pipeline_replay_s"] = await time_replay(settings, conn, n)
    # Telegraf on the same topic in a consumer group of its own: the same messages, after our pipeline.
    peer = run_peer(settings, kafka.topic(settings, kafka.HEARTBEATS), n) if args.peer else None

    def rate(seconds: float) -> int:
        return round(n / seconds)

    raw = rate(results["raw_copy_s"])
    print(
        json.dumps(
            {
                "benchmark": "ingest_throughput",
                "machine": machine(),
                "rows": n,
                "ingest_processes": args.processes,
                "cameras": args.cameras,
                "batch": args.batch,
                "heartbeats_per_message": args.chunk or "1 (wire version 1)",
                "limit_raw_copy_rows_per_s": raw,
                "copy_stage_insert_rows_per_s": rate(results["copy_stage_insert_s"]),
                "unnest_insert_rows_per_s": rate(results["unnest_insert_s"]),
                "writer_rows_per_s": rate(results["writer_s"]),
                "writer_replay_rows_per_s": rate(results["writer_replay_s"]),
                "pipeline_rows_per_s": rate(results["pipeline_s"]),
                "pipeline_ratio_to_raw_copy": round(rate(results["pipeline_s"]) / raw, 3),
                "pipeline_after_group_join_rows_per_s": round(n / (results["pipeline_s"] - first)),
                "pipeline_all_stored_rows_per_s": rate(results["pipeline_all_stored_s"]),
                "producer_rows_per_s_not_part_of_ingest": rate(produce_s),
                "stored_after_pipeline": stored_rows,
                # The same topic again by a new consumer group, every row already stored; nothing changed (checked).
                "pipeline_replay_rows_per_s": rate(results["pipeline_replay_s"])
                if "pipeline_replay_s" in results
                else None,
                "state_intervals_after": intervals,
                # CPU of the pipeline's processes while it ran (one ingest process only: with several, they are
                # `pulse ingest` subprocesses with children of their own).
                "pipeline_cpu": {
                    "seconds": cpu,
                    "us_per_row": {k: round(v / n * 1e6, 1) for k, v in cpu.items()},
                    "cores_mean": round(sum(cpu.values()) / results["pipeline_s"], 2),
                }
                if args.processes == 1
                else None,
                **(
                    {"peer_telegraf": peer, "peer_ratio_to_raw_copy": round(peer["rows_per_s"] / raw, 3)}
                    if peer
                    else {}
                ),
                "goal": {
                    "rows_per_s": 100_000,
                    "ratio": 0.6,
                    "met": rate(results["pipeline_s"]) >= 100_000 and rate(results["pipeline_s"]) / raw >= 0.6,
                },
                "seconds": {k: round(v, 3) for k, v in results.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    uvloop.run(main())  # the event loop `pulse ingest` runs on
