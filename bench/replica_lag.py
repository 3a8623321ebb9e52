"""How soon a write on the primary can be read on the streaming replica (`pulse infra start --replica`), with the
database idle and while heartbeats are written as fast as PostgreSQL takes them.

Probes: every --every-ms the primary commits an UPDATE of one row (a counter); the replica is asked (a SELECT by
primary key on an open connection) until it shows that value. A probe's figure is the time from the COMMIT's return
to the first read that shows it. The limit measured in the same run: one such read's round trip on the replica
(the figure's resolution). Load: a thread COPYs heartbeats into `heartbeats` with the writer's own columns and
types, 5,000 rows (one second of 5,000 cameras) a transaction, without pause; its rows/s are reported.

Each run uses a database of its own (`pulse_bench_replica`, recreated on the primary, replicated like everything
else). Prints one JSON object. Usage: python -m bench.replica_lag [--probes 300] [--every-ms 50]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.common import fresh_database, machine, percentiles
from services.core.db import DbConn, connect, copy_in
from services.core.settings import Settings, load_settings
from services.infra.local import Replica
from services.ingest.heartbeat_writer import COLUMNS, TYPES

CAMERAS = 5_000


def replica_url(settings: Settings) -> str:
    """The bench database on the local replica (the port of PULSE_DATABASE_READ_URL, as `pulse infra` uses)."""
    parts = urlsplit(settings.database_url)
    port = Replica(settings).port
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{port}")))


def probe(primary: DbConn, replica: psycopg.Connection, value: int) -> tuple[float, int]:
    """Commit `value` on the primary; seconds until the replica shows it, and how many reads that took."""
    primary.execute("UPDATE probe SET value = %s", (value,))  # autocommit: returns after the commit
    committed = time.perf_counter()
    reads = 0
    while True:
        reads += 1
        row = replica.execute("SELECT value FROM probe").fetchone()
        if row and row[0] >= value:
            return time.perf_counter() - committed, reads


def write_heartbeats(settings: Settings, stop: threading.Event, written: list[int]) -> None:
    """The load: one second of 5,000 cameras a transaction, the next second each time, until `stop`."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    second = 0
    with connect(settings) as conn:
        while not stop.is_set():
            ts = start + timedelta(seconds=second)
            rows = ((ts, f"cam-{c:05d}", "ok", None, None, None, None, ts) for c in range(CAMERAS))
            with conn.transaction():
                copy_in(conn, "heartbeats", COLUMNS, TYPES, rows)
            written[0] += CAMERAS
            second += 1


def run_probes(primary: DbConn, replica: psycopg.Connection, count: int, every_s: float, first: int) -> list[float]:
    delays = []
    for i in range(count):
        started = time.perf_counter()
        delay, _ = probe(primary, replica, first + i)
        delays.append(delay)
        time.sleep(max(0.0, every_s - (time.perf_counter() - started)))  # ok: the probes' pace
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--every-ms", type=float, default=50)
    args = parser.parse_args()
    settings = fresh_database(load_settings(), "pulse_bench_replica")
    with connect(settings, autocommit=True) as primary:
        primary.execute("CREATE TABLE probe (value bigint NOT NULL)")
        primary.execute("INSERT INTO probe VALUES (0)")
        deadline = time.monotonic() + 60
        while True:  # the new database reaches the replica
            try:
                replica = psycopg.connect(replica_url(settings), autocommit=True)
                if replica.execute("SELECT count(*) FROM probe").fetchone() == (1,):
                    break
                replica.close()
            except psycopg.Error:
                pass
            assert time.monotonic() < deadline, "the replica does not show the bench database: is it running?"
            time.sleep(0.2)  # ok: waiting for the replica to replay the database's creation
        with replica:
            assert replica.execute("SELECT pg_is_in_recovery()").fetchone() == (True,), "not a replica"
            round_trips = []
            for _ in range(200):
                started = time.perf_counter()
                replica.execute("SELECT value FROM probe").fetchone()
                round_trips.append(time.perf_counter() - started)
            every_s = args.every_ms / 1000
            idle = run_probes(primary, replica, args.probes, every_s, 1)
            stop, written = threading.Event(), [0]
            load = threading.Thread(target=write_heartbeats, args=(settings, stop, written))
            load.start()
            time.sleep(1)  # ok: the load under way before the probes
            began, before = time.perf_counter(), written[0]
            busy = run_probes(primary, replica, args.probes, every_s, args.probes + 1)
            load_s, load_rows = time.perf_counter() - began, written[0] - before
            stop.set()
            load.join()
            lag_bytes = primary.execute(
                "SELECT coalesce(max(pg_wal_lsn_diff(sent_lsn, replay_lsn)), 0) AS b FROM pg_stat_replication"
            ).fetchone()
    print(
        json.dumps(
            {
                "bench": "replica_lag",
                "machine": machine(),
                "config": {"probes": args.probes, "every_ms": args.every_ms, "load_cameras_per_transaction": CAMERAS},
                "visible_on_replica_ms": {"idle": percentiles(idle), "under_load": percentiles(busy)},
                "load": {"heartbeats_per_s": round(load_rows / load_s), "seconds": round(load_s, 1)},
                "limit_replica_read_round_trip_ms": percentiles(round_trips),
                "replay_behind_bytes_after_load": int(lag_bytes["b"]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
