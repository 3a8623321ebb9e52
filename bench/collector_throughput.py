"""App-events collector throughput: events/s one `pulse app-events` process accepts into the real Kafka broker.

wrk (Debian's) POSTs batches of `--batch` events (default 100, as the issue asks) to `/v1/events` with an app key.
Each request comes from another install (wrk's `request()` hook writes a new `install_id` into the body), so the
per-install rate limit (`PULSE_APP_EVENTS_RATE_PER_MINUTE`, 120) is in force as in production and no request is
throttled; the events are valid against the registry (app_open, screen_view, news_read, feedback_submitted with
a category), with `created_at` = `sent_at` = the bench's start, so every one is accepted. Each accepted event is
checked, clock-corrected, pseudonymized (HMAC) and produced to `app.events` with acks=all before the reply.

Limit, measured in the same run with the same wrk load and script: an empty FastAPI endpoint (reads the body,
returns 200 `{}`) on the same uvicorn set-up in its own process. Figures count only if every response was 2xx
and the collector's /metrics show every event accepted. Goal (issue 5): ≥ 20,000 events/s with batches of 100.
Usage: python -m bench.collector_throughput [--seconds 20] [--connections 32] [--batch 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bench.common import fresh_database, machine
from bench.gateway_throughput import WRK_REPORT, ensure_wrk, run_wrk
from bench.procs import Components, cpu_seconds, delete_topics, ensure_topics, free_port, isolate, metric_totals
from services.core import accounts, serve
from services.core.db import connect
from services.core.settings import load_settings

GOAL_EVENTS_PER_S = 20_000
ACCEPTED = "pulse_app_events_accepted_total"
INSTALL = "00000000-0000-4000-8000-000000000000"

# The body is read once; each request swaps in a fresh install id (a counter per wrk thread) so the rate limiter
# sees many phones, as in production.
LUA = Template(
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-App-Key"] = "$key"
local f = assert(io.open("$body", "rb"))
local template = f:read("*a")
f:close()
local at = string.find(template, "$install", 1, true)
local head, tail = string.sub(template, 1, at - 1), string.sub(template, at + 36)
"""
    + WRK_REPORT
    + """
-- after the shared report: each thread numbers its requests to make install ids of its own
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args) bad = 0; n = 0 end
function request()
  n = n + 1
  local install = string.format("%08x-0000-4000-8000-%012x", tid, n)
  return wrk.format(nil, nil, nil, head .. install .. tail)
end
"""
)

KINDS = [
    ("app_open", {}),
    ("screen_view", {"screen": "home"}),
    ("news_read", {"article_id": "a-1"}),
    ("feedback_submitted", {"category": "lighting"}),
]


def body(n: int, at: str, codes: list[str]) -> bytes:
    events = []
    for i in range(n):
        name, properties = KINDS[i % len(KINDS)]
        events.append(
            {
                "event_id": str(uuid.uuid4()),
                "event": name,
                "created_at": at,
                "user_id": "citizen-0001",  # a phone's batch is one citizen's
                "unit_code": codes[i % len(codes)],
                "properties": properties,
            }
        )
    envelope = {
        "sent_at": at,
        "context": {"install_id": INSTALL, "platform": "android", "app_version": "2.3.1", "locale": "vi-VN"},
        "events": events,
    }
    return json.dumps(envelope).encode()


def serve_empty(port: int) -> None:
    app = FastAPI()

    @app.post("/v1/events")
    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({})

    @app.get("/readyz")
    async def ready() -> dict:
        return {}

    asyncio.run(serve.server(app, "127.0.0.1", port, "warning").serve())


def measure(url: str, pid: int, script: Path, args: argparse.Namespace) -> dict:
    if args.warmup > 0:
        run_wrk(url, script, args, args.warmup)
    cpu = cpu_seconds(pid)
    result = run_wrk(url, script, args, args.seconds)
    result["server_cpu_cores"] = round((cpu_seconds(pid) - cpu) / args.seconds, 2)
    result["events_per_s"] = round(result["requests_per_s"] * args.batch)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--serve-empty", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_empty:
        serve_empty(args.serve_empty)
        return
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="pulse-bench-ev-") as tmp_dir:
        tmp = Path(tmp_dir)
        settings = isolate(fresh_database(load_settings(), "pulse_bench_collector"), tmp)
        port = free_port()
        with connect(settings, autocommit=True) as conn:
            key = accounts.create_app(conn, name="bench")
            codes = [r["code"] for r in conn.execute("SELECT code FROM units WHERE unit_set = '2024' ORDER BY code")]
        ensure_topics(settings)
        comps = Components(settings)
        try:
            comps.extra_env = {"PULSE_APP_EVENTS_PORT": str(port), "PULSE_PSEUDONYM_KEY": uuid.uuid4().hex * 2}
            collector = comps.pulse("app-events")
            empty_port = free_port()
            empty = comps.start("empty-fastapi", [sys.executable, __file__, "--serve-empty", str(empty_port)])
            comps.wait_ok("app-events", f"http://127.0.0.1:{port}/readyz")
            comps.wait_ok("empty-fastapi", f"http://127.0.0.1:{empty_port}/readyz")
            at = datetime.now(ZoneInfo(settings.timezone)).isoformat(timespec="seconds")
            (tmp / "body.json").write_bytes(body(args.batch, at, codes))
            script = tmp / "events.lua"
            script.write_text(LUA.substitute(key=key, body=tmp / "body.json", install=INSTALL))
            metrics = f"http://127.0.0.1:{port}/metrics"
            before = metric_totals(metrics)[ACCEPTED]
            measured = measure(f"http://127.0.0.1:{port}/v1/events", collector.pid, script, args)
            accepted = metric_totals(metrics)[ACCEPTED] - before
            limit = measure(f"http://127.0.0.1:{empty_port}/v1/events", empty.pid, script, args)
            throttled = metric_totals(metrics)["pulse_app_events_throttled_total"]
        finally:
            comps.stop_all()
            asyncio.run(delete_topics(settings))
    # The warm-up's events are in `accepted` too; wrk's own count covers only the measured run.
    valid = (
        measured["non_2xx"] == 0
        and limit["non_2xx"] == 0
        and throttled == 0
        and accepted >= measured["requests"] * args.batch
    )
    print(
        json.dumps(
            {
                "bench": "collector_throughput",
                "machine": machine(),
                "config": {
                    "seconds": args.seconds,
                    "warmup_s": args.warmup,
                    "connections": args.connections,
                    "events_per_request": args.batch,
                    "wrk_threads": 2,
                    "collector_processes": 1,
                },
                "collector": measured,
                "accepted_by_server_incl_warmup": int(accepted),
                "throttled": int(throttled),
                "empty_fastapi": limit,
                "vs_empty": round(measured["requests_per_s"] / limit["requests_per_s"], 3),
                "valid": valid,
                "goal": {
                    "events_per_s": GOAL_EVENTS_PER_S,
                    "measured": measured["events_per_s"],
                    "met": valid and measured["events_per_s"] >= GOAL_EVENTS_PER_S,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
