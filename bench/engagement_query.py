"""`GET /api/v1/engagement` for a month with 100,000 subjects over 37 communes: how long it takes, next to limits.

The month is the one `bench/app_events_ingest.py` writes through the product's own writer (October 2026, sessions
of 3–15 events, every subject active at least once); run that first, or pass `--build` to write it here with the
writer alone (no Kafka). Measured over real HTTP against `pulse api` (a subprocess): the month per unit in the
2024 set and in the 2025 set, the daily series of the district (31 days) and feature use. Limits in the same run:
the figures' SQL alone (psycopg, no HTTP) and `GET /api/v1/me` (authentication and HTTP, no work).
Goal (issue 5): p95 < 200 ms for `/engagement`.
Usage: python -m bench.engagement_query [--requests 40] [--build --subjects 100000 --events 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from pydantic_core import to_json

from bench.app_events_ingest import messages
from bench.common import fresh_database, machine, percentiles, timed_get
from bench.procs import Components, isolate
from services.core import accounts, engagement
from services.core.db import connect
from services.core.settings import load_settings
from services.core.units import list_units
from services.ingest.app_events import process_message
from services.ingest.event_writer import write_events

DATABASE = "pulse_bench_events"
MONTH = date(2026, 10, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--build", action="store_true", help="write the month here instead of reusing it")
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    base_settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        if args.build:
            settings = isolate(fresh_database(base_settings, DATABASE), Path(tmp))
            with connect(settings, autocommit=True) as conn:
                codes = [u["code"] for u in list_units(conn, "2024")]
                made = messages(args.subjects, args.events, codes)
                rows = [r for m in made for r in process_message(to_json(m), tz=settings.tz)]
                for i in range(0, len(rows), 20_000):
                    write_events(conn, rows[i : i + 20_000])
        else:
            url = urlunsplit(urlsplit(base_settings.database_url)._replace(path=f"/{DATABASE}"))
            settings = isolate(base_settings.model_copy(update={"database_url": url}), Path(tmp))
        with connect(settings, autocommit=True) as conn:
            accounts.create_operator(
                conn, username=f"bench-{time.time_ns()}", role="viewer", unit_set="2024", unit_codes=[], password=None
            )
            username = conn.execute("SELECT username FROM operators ORDER BY operator_id DESC LIMIT 1").fetchone()
            token = accounts.create_api_token(conn, username=username["username"])
            conn.execute("VACUUM ANALYZE")  # what autovacuum would have done on a live system
            conn.execute("CHECKPOINT")
            data = {
                "app_events": conn.execute("SELECT count(*) AS n FROM app_events").fetchone()["n"],
                "monthly_rows": conn.execute("SELECT count(*) AS n FROM engagement_monthly").fetchone()["n"],
                "daily_rows": conn.execute("SELECT count(*) AS n FROM engagement_daily").fetchone()["n"],
            }
            _, district = engagement.month_figures(conn, "2024", MONTH, date(2026, 11, 26))
            data["district_mau"] = district.mau
            sql_samples = []
            for _ in range(args.requests):
                started = time.perf_counter()
                engagement.month_figures(conn, "2024", MONTH, date(2026, 11, 26))
                sql_samples.append(time.perf_counter() - started)
        components = Components(settings)
        try:
            components.pulse("api")
            base = f"http://127.0.0.1:{settings.api_port}"
            components.wait_ok("api", f"{base}/healthz")
            month = {"month": MONTH.strftime("%Y-%m")}
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                client.get("/api/v1/engagement", params=month)  # warm the pool and the caches
                results = {
                    "limit_me_endpoint": timed_get(client, "/api/v1/me", {}, args.requests),
                    "engagement_month_2024": timed_get(client, "/api/v1/engagement", month, args.requests),
                    "engagement_month_2025": timed_get(
                        client, "/api/v1/engagement", {**month, "unit_set": "2025"}, args.requests
                    ),
                    "daily_series_district_31_days": timed_get(
                        client, "/api/v1/engagement/daily", {"from": "2026-10-01", "to": "2026-11-01"}, args.requests
                    ),
                    "feature_use_district": timed_get(client, "/api/v1/engagement/features", month, args.requests),
                }
        finally:
            components.stop_all()
    p95 = results["engagement_month_2024"]["p95_ms"]
    print(
        json.dumps(
            {
                "benchmark": "engagement_query",
                "machine": machine(),
                "month": "2026-10 (Asia/Ho_Chi_Minh)",
                "data": data,
                "limit_figures_sql_without_http": percentiles(sql_samples),
                **results,
                "goal": {"p95_ms": 200, "met": p95 < 200},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
