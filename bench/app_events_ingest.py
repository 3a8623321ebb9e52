"""App-event ingest throughput: events/s from Kafka into TimescaleDB, activity tables included, next to a raw COPY.

A month of synthetic use (fixed seed): `--subjects` citizens spread over the 37 communes of the 2024 set, in
sessions of 3 to 15 events (app_open, screens, news, cameras, 5 % with a feedback) at random times of October
2026, plus background pushes; sessions arrive shuffled over the month. In one run, on one fresh database
(`pulse_bench_events`):
1. limit: raw `COPY app_events FROM STDIN` of the same rows (no dedupe, no activity tables);
2. the shipped writer alone (`write_events`: claim event ids, store, fold into the activity tables of the
   commune, its 2025 xã and the district), in batches of `--batch`, no Kafka;
3. the whole pipeline: the collector's messages produced to a fresh topic first, then `run_pipeline` (consumer,
   decode, write, offset commits) timed until every event is stored; `after_group_join` from the first stored row.
Goal (issue 5): ≥ 50,000 events/s Kafka → TimescaleDB including the activity table.
Prints one JSON object. Usage: python -m bench.app_events_ingest [--subjects 100000] [--events 1000000] [--processes 1]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from aiokafka import AIOKafkaProducer
from pydantic_core import to_json

from app_events.messages import subject_partition
from bench.common import fresh_database, machine, poll_interval_s, stored_so_far
from bench.procs import start_ingest_group
from services.core import kafka
from services.core.db import DbConn, connect
from services.core.settings import Settings, load_settings
from services.core.units import list_units
from services.ingest.app_events import EventRow, process_message
from services.ingest.consumer import run_pipeline
from services.ingest.event_writer import write_events
from services.ingest.service import app_event_pipeline

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC) - timedelta(hours=7)  # 1 October 2026 00:00 in Hoằng Hóa
EVENTS = ["app_open", "screen_view", "screen_view", "news_read", "camera_viewed", "push_received"]
RAW_COLUMNS = (
    "event_time, event_id, event, subject, unit_set, unit_code, app_id, platform, app_version, properties,"
    " received_at, background"
)


def messages(subjects: int, events: int, codes: list[str], seed: int = 2026) -> list[dict]:
    """The collector's messages (SPEC §7, already pseudonymized: one message per subject and request) for a
    synthetic month of sessions: a citizen opens the app and sends 3 to 15 events within a few minutes (app_open,
    then screens, news, cameras, now and then a feedback) in one request, and receives a background push now and
    then. Every citizen has at least one session; sessions are shuffled over the month."""
    rng = random.Random(seed)
    home = [rng.choice(codes) for _ in range(subjects)]
    names = [hashlib.sha256(f"bench-{i}".encode()).hexdigest() for i in range(subjects)]
    out: list[dict] = []
    made = 0
    while made < events:
        s = len(out) if len(out) < subjects else rng.randrange(subjects)
        start = MONTH_START + timedelta(seconds=rng.randrange(31 * 86400 - 3600))
        if rng.random() < 0.1:
            kinds = ["push_received"]
        else:
            kinds = ["app_open"] + [rng.choice(EVENTS[1:-1]) for _ in range(rng.randint(2, 14))]
            if rng.random() < 0.05:
                kinds.append("feedback_submitted")
        kinds = kinds[: events - made]
        made += len(kinds)
        session = [
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event": event,
                "unit_code": home[s],
                "session_id": f"s{len(out)}",
                "event_time": start + timedelta(seconds=20 * k),
                "created_at": start + timedelta(seconds=20 * k),
                "properties": {"category": "lighting"} if event == "feedback_submitted" else {},
                "known": True,
                "background": event == "push_received",
            }
            for k, event in enumerate(kinds)
        ]
        out.append(
            {
                "v": 2,
                "subject": names[s],
                "anonymous": False,
                "unit_set": "2024",
                "received_at": start + timedelta(seconds=20 * len(kinds) + 2),
                "app_id": 1,
                "platform": "android",
                "app_version": "2.3.1",
                "events": session,
            }
        )
    return out


def reset(conn: DbConn) -> None:
    conn.execute(
        "TRUNCATE app_events, app_event_seen, engagement_daily, engagement_monthly, engagement_first,"
        " engagement_name_sets, engagement_name_counts"
    )


def time_raw_copy(conn: DbConn, rows: list[EventRow]) -> float:
    started = time.perf_counter()
    with conn.transaction(), conn.cursor().copy(f"COPY app_events ({RAW_COLUMNS}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(
                (
                    r.event_time,
                    r.event_id,
                    r.event,
                    r.subject,
                    r.unit_set,
                    r.unit_code,
                    r.app_id,
                    r.platform,
                    r.app_version,
                    r.properties.decode(),  # JSON text, for a text COPY into jsonb
                    r.received_at,
                    r.background,
                )
            )
    return time.perf_counter() - started


def time_writer(conn: DbConn, rows: list[EventRow], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        write_events(conn, rows[i : i + batch])
    return time.perf_counter() - started


async def produce(settings: Settings, values: list[bytes], keys: list[bytes]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1 << 20,
        compression_type="lz4",
    )
    await producer.start()
    started = time.perf_counter()
    try:
        topic = kafka.topic(settings, kafka.APP_EVENTS)
        partitions = sorted(await producer.partitions_for(topic))
        futures = [
            await producer.send(topic, v, key=k, partition=subject_partition(k, partitions))
            for v, k in zip(values, keys, strict=True)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def time_pipeline(settings: Settings, conn: DbConn, expected: int, processes: int) -> tuple[float, float]:
    """Seconds from start to the first event stored and to every event stored. `processes` > 1: that many
    `pulse ingest` processes in one consumer group instead of the pipeline in this process (each partition's
    subjects are disjoint, so their writes never wait for each other)."""
    stop = asyncio.Event()
    started = time.perf_counter()
    components = None
    if processes > 1:
        components = start_ingest_group(settings, processes)
        task = asyncio.create_task(stop.wait())
    else:
        task = asyncio.create_task(run_pipeline(settings, app_event_pipeline(settings), stop))
    first = None
    topic = kafka.topic(settings, kafka.APP_EVENTS)

    while True:
        n = stored_so_far(conn, topic, "app_events", processes)
        if n and first is None:
            first = time.perf_counter() - started
        if n >= expected:
            break
        if task.done():
            task.result()
        await asyncio.sleep(poll_interval_s(processes))
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    if components is not None:
        components.stop_all()
    return first or 0.0, elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=1, help="ingest processes in the consumer group")
    args = parser.parse_args()
    settings = fresh_database(load_settings(), "pulse_bench_events")
    settings = settings.model_copy(update={"kafka_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    with connect(settings, autocommit=True) as conn:
        codes = [u["code"] for u in list_units(conn, "2024")]
        made = messages(args.subjects, args.events, codes)
        values = [to_json(m) for m in made]
        keys = [m["subject"].encode() for m in made]
        rows = [row for v in values for row in process_message(v, tz=settings.tz)]
        n = len(rows)
        results: dict[str, float] = {"raw_copy_s": time_raw_copy(conn, rows)}
        reset(conn)
        results["writer_s"] = time_writer(conn, rows, args.batch)
        sizes = {
            t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]  # table names from this file
            for t in (
                "engagement_daily",
                "engagement_monthly",
                "engagement_first",
                "engagement_name_sets",
                "engagement_name_counts",
            )
        }
        reset(conn)
        await kafka.ensure_topics(settings)
        produce_s = await produce(settings, values, keys)
        first, pipeline_s = await time_pipeline(settings, conn, n, args.processes)
        stored = conn.execute("SELECT count(*) AS n FROM app_events").fetchone()["n"]
        if stored != n:
            raise SystemExit(f"the pipeline stored {stored} events of {n}")
        mau = conn.execute(
            "SELECT count(*) AS n FROM engagement_monthly JOIN engagement_scopes USING (scope_id)"
            " WHERE scope_set = '*' AND active_days > 0"
        ).fetchone()["n"]
    raw = n / results["raw_copy_s"]
    pipeline = n / pipeline_s
    print(
        json.dumps(
            {
                "benchmark": "app_events_ingest",
                "machine": machine(),
                "events": n,
                "subjects": args.subjects,
                "district_mau": mau,
                "batch": args.batch,
                "ingest_processes": args.processes,
                "kafka_partitions": settings.kafka_partitions,
                "stored": stored,
                "activity_rows": sizes,
                "raw_copy_events_per_s": round(raw),
                "writer_events_per_s": round(n / results["writer_s"]),
                "produce_events_per_s": round(n / produce_s),
                "pipeline_events_per_s": round(pipeline),
                "pipeline_after_group_join_events_per_s": round(n / (pipeline_s - first))
                if pipeline_s > first
                else None,
                "pipeline_vs_raw_copy": round(pipeline / raw, 3),
                "goal_events_per_s": 50_000,
                "goal_met": pipeline >= 50_000,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    uvloop.run(main())
