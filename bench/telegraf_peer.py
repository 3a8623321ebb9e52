"""Telegraf as a peer of our ingest: the same heartbeat messages, from the same topic, into an equivalent hypertable.

Telegraf (built by `make telegraf`: inputs.kafka_consumer, parsers.json_v2, outputs.postgresql) reads the topic in
a consumer group of its own, turns each item of a version-2 message into one row and COPYs them into
`heartbeats_peer`: the columns of `heartbeats` with `time` for `ts` (metrics and quality json, received_at text:
what its output can write, see PEER_DDL), the same unique index on (camera_id, time), a hypertable with the same
1-day chunks. It is a plain sink, an honest reference for what moving the bytes costs,
not our equivalent: see `STORES`, printed with every figure.

`run_peer(settings, topic, expected_rows)` is what `python -m bench.ingest_throughput --peer` calls after our
pipeline, on the same topic. On its own (`python -m bench.telegraf_peer`, database `pulse_bench_peer`): the rows
of ingest_throughput, a raw COPY of them (the limit), then the same rows as version-2 messages into a fresh topic
and Telegraf on it. Prints one JSON object.
Usage: python -m bench.telegraf_peer [--cameras 5000] [--per-camera 40] [--chunk 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import fresh_database, machine
from bench.procs import cpu_seconds, kafka_pids, postgres_pids, total_cpu_seconds
from services.core import accounts, kafka
from services.core.db import connect
from services.core.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build_telegraf.sh"
PEER_TABLE = "heartbeats_peer"

# `heartbeats` (migration 0001) with `time` for `ts`: Telegraf's postgresql output names the timestamp column.
# Three columns have the type that output can fill: it COPYs in binary, and its driver (pgx v4) sends a string
# field's bytes as they are, which PostgreSQL accepts as text or json but not as jsonb or timestamptz ("unsupported
# jsonb version number 123"); json_v2 makes only int, uint, float, string and bool fields. So metrics and quality
# are json (syntax checked, not converted to jsonb's binary form), received_at text (the RFC 3339 string).
PEER_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    time            timestamptz NOT NULL,
    camera_id       text NOT NULL,
    -- the wire leaves out a status of "ok" (its default, SPEC §4), and Telegraf then leaves out the column
    status          text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'degraded', 'down')),
    seq             bigint,
    metrics         json,
    quality         json,
    gateway_id      bigint,
    received_at     text
);
SELECT create_hypertable('{table}', 'time', chunk_time_interval => interval '1 day', if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS {table}_camera_time_idx ON {table} (camera_id, time);
"""

# Each item of `items` becomes a metric; gjson rewrites an item so that metrics and quality arrive as JSON text
# (stored into jsonb), not flattened into one column per key. The envelope's fields are added to every item.
ITEMS_PATH = 'items.#.{camera_id,ts,status,seq,"metrics":metrics|@tostr,"quality":quality|@tostr}'

STORES = {
    "table": f"{PEER_TABLE}: the columns of heartbeats with `time` for `ts`, the same unique index on"
    " (camera_id, time) and status CHECK, a hypertable with 1-day chunks, in the same database; but metrics and"
    " quality are json, not jsonb, and received_at is text, not timestamptz: Telegraf's postgresql output COPYs"
    " in binary and sends a string field's bytes as they are, which jsonb and timestamptz refuse (and the json_v2"
    " parser makes no other type a JSON object or a time could become). PostgreSQL does less per row than for"
    " heartbeats: no jsonb conversion, no timestamp parsing of received_at",
    "maps": {
        "time": "items[].ts (RFC 3339)",
        "camera_id": "items[].camera_id (a tag)",
        "status": "items[].status",
        "seq": "items[].seq when present (int)",
        "metrics": "items[].metrics as JSON text into json",
        "quality": "items[].quality as JSON text into json",
        "gateway_id": "the envelope's gateway_id, on every item",
        "received_at": "the envelope's received_at, the RFC 3339 string as text, on every item",
    },
    "ignored": "the envelope's v, kind, unit_set, unit_code (no column); keep-alive messages (become no row)",
    "how": "Telegraf's postgresql output: one COPY per batch of metric_batch_size rows into the existing table"
    " (create_templates = [], add_column_templates = []), one connection; Kafka offsets committed after the batch"
    " is written (tracking metrics)",
    "cannot": [
        "dedupe beyond the unique index: a replayed (camera_id, ts) makes its whole COPY batch fail with a unique"
        " violation, which the output counts as permanent: the batch, new rows included, is dropped and"
        " acknowledged (its offsets are committed); ours skips the duplicates and keeps the rest",
        "validation: no wire-version or field checks (status is checked by the table's CHECK, which fails the"
        " whole batch too); a message it cannot parse is dropped whole, committed, with a log line; no dead-letter"
        " topic",
        "camera status, unknown-camera registration, gateway watermarks",
        "rollup: no state intervals, no uptime per day, no camera_dirty queue",
    ],
}


def telegraf_binary() -> Path:
    """The binary `make telegraf` builds (built now if it is missing: several minutes the first time)."""
    out = subprocess.run(["bash", str(BUILD)], check=True, stdout=subprocess.PIPE, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def create_peer_table(conn, table: str = PEER_TABLE) -> None:
    for statement in filter(str.strip, PEER_DDL.format(table=table).split(";")):
        conn.execute(statement)


def time_raw_copy_same_shape(conn) -> float:
    """The limit for the peer's own column types: its rows, COPYed out in binary, then timed back in with one
    binary COPY into an empty table of the same definition (after the run, not part of its figures)."""
    data = bytearray()
    # (SELECT …): COPY of a hypertable by name reads its root table only, which is empty.
    with conn.cursor().copy(f"COPY (SELECT * FROM {PEER_TABLE}) TO STDOUT (FORMAT binary)") as out:
        for chunk in out:
            data += chunk
    probe = f"{PEER_TABLE}_copy_probe"
    conn.execute(f"DROP TABLE IF EXISTS {probe}")
    create_peer_table(conn, probe)
    try:
        started = time.perf_counter()
        with conn.transaction(), conn.cursor().copy(f"COPY {probe} FROM STDIN (FORMAT binary)") as into:
            into.write(bytes(data))
        return time.perf_counter() - started
    finally:
        conn.execute(f"DROP TABLE {probe}")


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def telegraf_config(
    brokers: list[str], topic: str, group: str, logfile: Path, *, batch: int, undelivered: int, flush: str
) -> str:
    """kafka_consumer → json_v2 → postgresql. The connection string comes from the environment (PEER_DSN), so
    the password is not written to disk. The buffer holds every metric the consumer may have in flight
    (`undelivered` messages of up to 500 items): a smaller one would drop metrics silently."""
    return f"""
[agent]
  interval = "10s"
  round_interval = false
  metric_batch_size = {batch}
  metric_buffer_limit = {max(undelivered * 500, 2 * batch)}
  flush_interval = "{flush}"
  flush_jitter = "0s"
  omit_hostname = true
  logfile = {json.dumps(str(logfile))}

[[inputs.kafka_consumer]]
  brokers = {toml_list(brokers)}
  ## sarama's fetches fail with EOF against Kafka 4.x without it
  version = "3.9.0"
  topics = {toml_list([topic])}
  consumer_group = {json.dumps(group)}
  offset = "oldest"
  max_undelivered_messages = {undelivered}
  max_message_len = 0
  data_format = "json_v2"
  [[inputs.kafka_consumer.json_v2]]
    measurement_name = "{PEER_TABLE}"
    [[inputs.kafka_consumer.json_v2.field]]
      path = "gateway_id"
      type = "int"
    [[inputs.kafka_consumer.json_v2.field]]
      path = "received_at"
      type = "string"
    [[inputs.kafka_consumer.json_v2.object]]
      path = {json.dumps(ITEMS_PATH)}
      timestamp_key = "ts"
      timestamp_format = "rfc3339"
      timestamp_timezone = "UTC"
      tags = ["camera_id"]
      [inputs.kafka_consumer.json_v2.object.fields]
        seq = "int"

[[outputs.postgresql]]
  connection = "${{PEER_DSN}}"
  timestamp_column_type = "timestamp with time zone"
  create_templates = []
  add_column_templates = []
  log_level = "warn"
"""


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def log_tail(logfile: Path, lines: int = 20) -> str:
    return "\n".join(logfile.read_text().splitlines()[-lines:]) if logfile.exists() else "(no log)"


def kafka_cpu_seconds() -> float:
    return total_cpu_seconds(kafka_pids())


def run_peer(
    settings,
    topic: str,
    expected_rows: int,
    *,
    batch: int = 10_000,
    undelivered: int = 200,
    flush: str = "200ms",
    timeout_s: float = 300.0,
) -> dict:
    """Telegraf moves `topic` (from its oldest offset, in a fresh consumer group) into `heartbeats_peer` of the
    settings' database; timed from its start until `expected_rows` more rows are stored. Returns its figures."""
    binary = telegraf_binary()
    group = f"{settings.kafka_prefix}telegraf-peer-{uuid.uuid4().hex[:8]}"
    with connect(settings, autocommit=True) as conn, tempfile.TemporaryDirectory(prefix="telegraf-peer-") as tmp:
        create_peer_table(conn)
        before = conn.execute(f"SELECT count(*) AS n FROM {PEER_TABLE}").fetchone()["n"]
        logfile = Path(tmp) / "telegraf.log"
        config = Path(tmp) / "telegraf.conf"
        brokers = [b.strip() for b in settings.kafka_bootstrap.split(",")]
        config.write_text(
            telegraf_config(brokers, topic, group, logfile, batch=batch, undelivered=undelivered, flush=flush)
        )
        url = settings.database_url
        env = dict(
            os.environ, PEER_DSN=url if "sslmode=" in url else f"{url}{'&' if '?' in url else '?'}sslmode=disable"
        )
        pg_before, kafka_before = total_cpu_seconds(postgres_pids()), kafka_cpu_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(binary), "--config", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        first = stored = None
        try:
            while stored is None:
                n = conn.execute(f"SELECT count(*) AS n FROM {PEER_TABLE}").fetchone()["n"] - before
                now = time.perf_counter() - started
                if n and first is None:
                    first = now
                if n >= expected_rows:
                    stored = now
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"telegraf exited ({proc.returncode}) at {n} rows:\n{log_tail(logfile)}")
                if logfile.exists() and "write error (permanent" in logfile.read_text():
                    raise RuntimeError(f"telegraf dropped a batch at {n} rows:\n{log_tail(logfile)}")
                if now > timeout_s:
                    raise TimeoutError(
                        f"telegraf stored {n} of {expected_rows} rows in {timeout_s} s:\n{log_tail(logfile)}"
                    )
                time.sleep(0.02)  # poll, as time_pipeline does
            telegraf_cpu = cpu_seconds(proc.pid)
            pg_cpu = total_cpu_seconds(postgres_pids()) - pg_before
            kafka_cpu = kafka_cpu_seconds() - kafka_before
        finally:
            stop(proc)
        log = logfile.read_text() if logfile.exists() else ""
        errors = [line for line in log.splitlines() if " E! " in line]
        # Not timed: how many of its rows equal a row of ours (`heartbeats`), column by column.
        same = conn.execute(
            f"SELECT count(*) AS n FROM {PEER_TABLE} p JOIN heartbeats h ON h.camera_id = p.camera_id AND h.ts = p.time"
            " WHERE h.status = p.status AND h.seq IS NOT DISTINCT FROM p.seq"
            " AND h.metrics IS NOT DISTINCT FROM p.metrics::jsonb AND h.quality IS NOT DISTINCT FROM p.quality::jsonb"
            " AND h.gateway_id IS NOT DISTINCT FROM p.gateway_id AND h.received_at = p.received_at::timestamptz"
        ).fetchone()["n"]
        rows = conn.execute(f"SELECT count(*) AS n FROM {PEER_TABLE}").fetchone()["n"] - before
        same_shape_s = time_raw_copy_same_shape(conn)
        table_rows = before + rows
    cpu = {"telegraf": round(telegraf_cpu, 2), "postgresql": round(pg_cpu, 2), "kafka": round(kafka_cpu, 2)}
    return {
        "peer": "telegraf",
        "version": subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip(),
        "config": {
            "metric_batch_size": batch,
            "max_undelivered_messages": undelivered,
            "flush_interval": flush,
            "postgresql_pool_max_conns": 1,
            "parser": "json_v2",
            "kafka_version_setting": "3.9.0",
        },
        "rows": rows,
        "rows_equal_to_heartbeats": same,
        "first_row_s": round(first or 0.0, 3),
        "all_stored_s": round(stored, 3),
        "rows_per_s": round(expected_rows / stored),
        "after_first_row_rows_per_s": round(expected_rows / (stored - first)) if first and stored > first else None,
        # Its table is cheaper to fill than `heartbeats` (json and text): the raw COPY of its own column types.
        "raw_copy_same_shape_rows_per_s": round(table_rows / same_shape_s),
        "ratio_to_raw_copy_same_shape": round(expected_rows / stored / (table_rows / same_shape_s), 3),
        "cpu": {
            "seconds": cpu,
            "us_per_row": {k: round(v / expected_rows * 1e6, 1) for k, v in cpu.items()},
            "cores_mean": round(sum(cpu.values()) / stored, 2),
        },
        "log_errors": len(errors),
        "log_errors_first": errors[:3],
        "stores": STORES,
    }


async def amain() -> None:
    # ingest_throughput's rows and producer, so both benchmarks move the same messages.
    from bench.ingest_throughput import make_rows, produce, time_raw_copy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=5000)
    parser.add_argument("--per-camera", type=int, default=40)
    parser.add_argument("--chunk", type=int, default=500, help="heartbeats per Kafka message (wire version 2)")
    parser.add_argument("--batch", type=int, default=10_000, help="Telegraf's metric_batch_size")
    args = parser.parse_args()
    settings = fresh_database(load_settings(), "pulse_bench_peer")
    settings = settings.model_copy(update={"kafka_prefix": f"bench-{uuid.uuid4().hex[:8]}."})
    with connect(settings, autocommit=True) as conn:
        accounts.create_gateway(conn, name="bench", unit_set="2024", unit_codes=["15865"])
        gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
        rows = make_rows(args.cameras, args.per_camera, gateway_id)
        raw_copy_s = time_raw_copy(conn, rows)  # stays in `heartbeats`: the peer's rows are compared with it
    await kafka.ensure_topics(settings, (kafka.HEARTBEATS,))
    produce_s = await produce(settings, rows, gateway_id, args.chunk)
    peer = run_peer(settings, kafka.topic(settings, kafka.HEARTBEATS), len(rows), batch=args.batch)
    raw = round(len(rows) / raw_copy_s)
    print(
        json.dumps(
            {
                "benchmark": "telegraf_peer",
                "machine": machine(),
                "rows": len(rows),
                "cameras": args.cameras,
                "heartbeats_per_message": args.chunk,
                "limit_raw_copy_rows_per_s": raw,
                "peer_telegraf": peer,
                "peer_ratio_to_raw_copy": round(peer["rows_per_s"] / raw, 3),
                "producer_rows_per_s_not_part_of_ingest": round(len(rows) / produce_s),
                "seconds": {"raw_copy_s": round(raw_copy_s, 3), "produce_s": round(produce_s, 3)},
            },
            indent=2,
        )
    )


def main() -> None:
    asyncio.run(amain())


if __name__ == "__main__":
    main()
