"""What the benchmarks share: a fresh database of their own, the machine's description, percentiles."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from services.core import accounts
from services.core.db import connect
from services.core.migrate import migrate
from services.core.settings import Settings
from services.ingest.consumer import ROWS_WRITTEN


def fresh_database(settings: Settings, name: str) -> Settings:
    """Drop and create database `name` on the configured server, migrate it, return settings pointing at it."""
    parts = urlsplit(settings.database_url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    bench = settings.model_copy(update={"database_url": urlunsplit(parts._replace(path=f"/{name}"))})
    with connect(bench) as conn:
        migrate(conn, timezone=bench.timezone)
    return bench


def stored_so_far(conn: psycopg.Connection, topic: str, table: str, processes: int) -> int:
    """Rows a pipeline has stored so far. One process (the pipeline runs in the benchmark's own): its counter, read
    without a query — counting a growing hypertable every few ms cost PostgreSQL more CPU than parts of the pipeline
    (1.7 s in a 600,000-row run) and blocked the event loop the pipeline runs on. Several processes: a count."""
    if processes == 1:
        return int(ROWS_WRITTEN.labels(topic)._value.get())
    return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def poll_interval_s(processes: int) -> float:
    """How often to look: the counter is free to read, a count is not."""
    return 0.005 if processes == 1 else 0.25


def machine() -> dict:
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "psql": pg,
    }


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(pick(0.95) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def timed_get(client: Any, url: str, params: dict, n: int) -> dict:
    """n GETs (each must answer 200) and their latency percentiles."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url, params=params)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return percentiles(samples)


def bench_gateway(conn, settings: Settings) -> str:
    """A gateway for the first unit of the set in force; returns its token."""
    unit = conn.execute(
        "SELECT code FROM units WHERE unit_set = %s ORDER BY code LIMIT 1", (settings.unit_set,)
    ).fetchone()
    return accounts.create_gateway(conn, name="bench", unit_set=settings.unit_set, unit_codes=[unit["code"]])
