"""`GET /api/v1/uptime` for a whole month, 5,000 cameras, per unit: how long it takes, next to its limits.

The month is built through the product's own write and rollup code (`write_batch`, `rollup_all`) from a coarser
stream than real life: cameras declared with `interval_s = 3600` and one heartbeat an hour (31 × 24 per camera,
3.7 M rows), written day by day, with trouble drawn from a fixed seed — outages of 2 to 30 hours (down after I),
`down` verdicts, degraded pictures. What `/uptime` reads is the stored state intervals (one row per change of
state) plus each camera's open tail; a minute stream with the same trouble gives the same number of intervals,
so the query costs the same; only writing a month of minute heartbeats (216 M rows) is out of reach here.

Measured over real HTTP against `pulse api` (a subprocess): the month per unit in the 2024 set and in the 2025
set, and per camera. Limits in the same run: the SQL that sums the stored intervals alone (psycopg, no HTTP),
and `GET /api/v1/me` (authentication and HTTP, no work). Goal: p95 < 100 ms per unit.
Usage: python -m bench.uptime_query [--cameras 5000] [--requests 40]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import fresh_database, machine, percentiles, timed_get
from bench.procs import Components, isolate
from services.core import accounts, camera_state
from services.core.db import connect
from services.core.settings import load_settings
from services.core.units import list_units
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatRow
from services.ingest.rollup import rollup_all

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC) - timedelta(hours=7)  # 1 October 2026 00:00 in Hoằng Hóa
DAYS = 31


def trouble(rng: random.Random) -> dict[int, str]:
    """Hour index → status for one camera's month; a missing hour is a gap (the camera was silent)."""
    hours = {h: "ok" for h in range(DAYS * 24)}
    for _ in range(rng.randint(0, 5)):
        start, length = rng.randrange(DAYS * 24), rng.randint(2, 30)
        for h in range(start, start + length):
            hours.pop(h, None)
    for _ in range(rng.randint(0, 3)):
        h = rng.randrange(DAYS * 24)
        if h in hours:
            hours[h] = rng.choice(["down", "degraded"])
    return hours


def build_month(settings, cameras: int) -> dict:
    rng = random.Random(20261001)
    with connect(settings, autocommit=True) as conn:
        codes = [r["code"] for r in list_units(conn, "2024")]
        accounts.create_gateway(conn, name="bench", unit_set="2024", unit_codes=codes)
        gateway_id = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
        ids = [f"cam-{c:05d}" for c in range(cameras)]
        conn.execute(
            "INSERT INTO cameras (camera_id, unit_set, unit_code, interval_s, gateway_id)"
            " SELECT id, '2024', (%s::text[])[1 + (n %% %s)], 3600, %s"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS t(id, n)",
            (codes, len(codes), gateway_id, ids),
        )
        plans = {cid: trouble(rng) for cid in ids}
        started = time.perf_counter()
        rows_written = 0
        for day in range(DAYS):
            rows = []
            for cid in ids:
                for h in range(day * 24, day * 24 + 24):
                    status = plans[cid].get(h)
                    if status is None:
                        continue
                    ts = MONTH_START + timedelta(hours=h)
                    state = {"ok": "up", "down": "down", "degraded": "degraded"}[status]
                    rows.append(
                        HeartbeatRow(cid, ts, status, state, None, None, None, gateway_id, "2024", codes[0], ts)
                    )
            for i in range(0, len(rows), 20_000):
                write_batch(conn, rows[i : i + 20_000])
            rollup_all(conn)
            rows_written += len(rows)
        end = MONTH_START + timedelta(days=DAYS)
        conn.execute("UPDATE gateways SET watermark = %s", (end,))
        intervals = conn.execute("SELECT count(*) AS n FROM camera_intervals").fetchone()["n"]
        return {
            "heartbeats": rows_written,
            "state_intervals": intervals,
            "build_s": round(time.perf_counter() - started, 1),
        }


def _database_url(settings, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(settings.database_url)._replace(path=f"/{name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="measure the month built by an earlier run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.reuse:
            settings = isolate(load_settings(), Path(tmp))
            settings = settings.model_copy(update={"database_url": _database_url(settings, "pulse_bench_uptime")})
            with connect(settings) as conn:
                built = {
                    "reused": True,
                    "state_intervals": conn.execute("SELECT count(*) AS n FROM camera_intervals").fetchone()["n"],
                }
        else:
            settings = isolate(fresh_database(load_settings(), "pulse_bench_uptime"), Path(tmp))
            built = build_month(settings, args.cameras)
        with connect(settings, autocommit=True) as conn:
            if not args.reuse:
                accounts.create_operator(
                    conn, username="bench", role="viewer", unit_set="2024", unit_codes=[], password=None
                )
            token = accounts.create_api_token(conn, username="bench")
            conn.execute("VACUUM ANALYZE")  # what autovacuum would have done on a live system
            conn.execute("CHECKPOINT")  # the build's writes are flushed before anything is timed
            end = MONTH_START + timedelta(days=DAYS)
            cams = camera_state.snapshots(conn, view_set="2024")
            sql_samples = []
            for _ in range(args.requests):
                started = time.perf_counter()
                camera_state.window_seconds(conn, cams, MONTH_START, end, tz=settings.tz)
                sql_samples.append(time.perf_counter() - started)
        components = Components(settings)
        try:
            components.pulse("api")
            base = f"http://127.0.0.1:{settings.api_port}"
            components.wait_ok("api", f"{base}/healthz")
            window = {"from": MONTH_START.isoformat(), "to": end.isoformat()}
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                client.get("/api/v1/uptime", params=window)  # warm the pool and the caches
                results = {
                    "limit_me_endpoint": timed_get(client, "/api/v1/me", {}, args.requests),
                    "uptime_month_per_unit_2024": timed_get(client, "/api/v1/uptime", window, args.requests),
                    "uptime_month_per_unit_2025": timed_get(
                        client, "/api/v1/uptime", {**window, "unit_set": "2025"}, args.requests
                    ),
                    "uptime_month_per_camera": timed_get(
                        client, "/api/v1/uptime", {**window, "group_by": "camera"}, max(5, args.requests // 4)
                    ),
                }
        finally:
            components.stop_all()
    p95 = results["uptime_month_per_unit_2024"]["p95_ms"]
    print(
        json.dumps(
            {
                "benchmark": "uptime_query",
                "machine": machine(),
                "cameras": args.cameras,
                "month": "2026-10 (Asia/Ho_Chi_Minh)",
                "data": built,
                "limit_state_reads_without_http": percentiles(sql_samples),
                **results,
                "goal": {"p95_ms": 100, "met": p95 < 100},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
