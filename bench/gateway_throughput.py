"""Camera gateway throughput: what one `pulse camera-gateway` process accepts into the real Kafka broker.

wrk (Debian's, installed if missing) POSTs one prebuilt body again and again to `/v1/heartbeats` with the
gateway's Bearer token, for two bodies: a batch of 500 heartbeats (distinct cameras cam-00001…, `ts` = the
bench's start time in RFC 3339 with an offset, so every item passes the gateway's clock checks) and a single
heartbeat. Figures: heartbeats/s and requests/s, wrk's latency percentiles, non-2xx responses, and the CPU the
server process used (1.0 = one core saturated).

Limit, measured in the same run with the same wrk load and bodies: an empty FastAPI endpoint (reads the body,
returns 202 `{}`) served by the same uvicorn set-up (`services.core.serve`) in its own process. `vs_empty` says
how close the gateway gets to what FastAPI + uvicorn can do on this machine.

The figures count only if every response was 2xx, the gateway's /metrics show every heartbeat accepted and none
spooled, and /readyz is 200 at the end: Kafka throughput, not the disk spool. Goal: ≥ 50,000 heartbeats/s with
batches of 500.

Isolation: database `pulse_bench_gw` (recreated), topic prefix `bench-<uuid8>.` (deleted at the end), a temp
data dir (the spool), free ports. wrk, the servers, Kafka and PostgreSQL share the machine's cores.

Usage: python bench/gateway_throughput.py [--seconds 20] [--connections 32] [--warmup 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/…` must find the `bench` package

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bench.common import bench_gateway, fresh_database, machine
from bench.procs import Components, cpu_seconds, delete_topics, ensure_topics, free_port, isolate, metric_totals
from services.core import serve
from services.core.db import connect
from services.core.settings import Settings, load_settings

GOAL_HEARTBEATS_PER_S = 50_000
ACCEPTED, REJECTED = "pulse_gateway_heartbeats_accepted_total", "pulse_gateway_heartbeats_rejected_total"

# What every wrk run reports: `response()` counts non-2xx exactly (wrk's own summary counts only status ≥ 400),
# and `done()` prints one JSON line. Shared with bench/collector_throughput.py.
WRK_REPORT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do non2xx = non2xx + t:get("bad") end
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p99_9": %d, "max": %d}}\\n',
    summary.requests, summary.duration, non2xx, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
"""

# One static request per connection (no `request()` hook, so wrk stays cheap).
LUA = Template(
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local f = assert(io.open("$body", "rb"))
wrk.body = f:read("*a")
f:close()
"""
    + WRK_REPORT
)


def serve_empty(port: int) -> None:
    """The limit: FastAPI + uvicorn as the gateway runs them, doing nothing but read the body."""
    app = FastAPI()

    @app.post("/v1/heartbeats")
    async def accept(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({}, status_code=202)

    @app.get("/readyz")
    async def ready() -> dict:
        return {}

    asyncio.run(serve.server(app, "127.0.0.1", port, "warning").serve())


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:  # apt's output goes to stderr: stdout is the JSON
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=sys.stderr)


def run_wrk(url: str, script: Path, args: argparse.Namespace, seconds: int) -> dict:
    argv = ["wrk", "-t2", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    raw = json.loads(next(line for line in out.splitlines() if line.startswith("WRK_JSON "))[9:])
    return {
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in raw["latency_us"].items()},
        "non_2xx": raw["non_2xx"],
        "socket_errors": raw["socket_errors"],
    }


def body(n: int, ts: str) -> bytes:
    items = [{"camera_id": f"cam-{i:05d}", "ts": ts, "status": "ok"} for i in range(1, n + 1)]
    return json.dumps({"heartbeats": items}).encode()


def settled_counters(metrics_url: str) -> dict[str, float]:
    """The gateway's counters once it has served the requests wrk left in flight (wrk stops without waiting)."""
    last = metric_totals(metrics_url)
    while True:
        time.sleep(0.2)
        now = metric_totals(metrics_url)
        if now[ACCEPTED] == last[ACCEPTED]:
            return now
        last = now


def measure(url: str, pid: int, script: Path, items: int, args: argparse.Namespace, metrics_url: str = "") -> dict:
    """Warm up, then the measured wrk run; with `metrics_url`, also what the gateway accepted and rejected."""
    if args.warmup > 0:
        run_wrk(url, script, args, args.warmup)
    before = settled_counters(metrics_url) if metrics_url else {}
    cpu = cpu_seconds(pid)
    result = run_wrk(url, script, args, args.seconds)
    result["server_cpu_cores"] = round((cpu_seconds(pid) - cpu) / args.seconds, 2)
    result["heartbeats_per_s"] = round(result["requests_per_s"] * items)
    if metrics_url:
        after = settled_counters(metrics_url)
        result["accepted_by_server"] = int(after[ACCEPTED] - before[ACCEPTED])
        result["rejected_by_server"] = int(after[REJECTED] - before[REJECTED])
    return result


def run(args: argparse.Namespace, settings: Settings, comps: Components, token: str, tmp: Path) -> dict:
    gw_base = f"http://127.0.0.1:{settings.gateway_port}"
    empty_port = free_port()
    gateway = comps.pulse("camera-gateway")
    empty = comps.start("empty-fastapi", [sys.executable, __file__, "--serve-empty", str(empty_port)])
    comps.wait_ok("camera-gateway", f"{gw_base}/readyz")
    comps.wait_ok("empty-fastapi", f"http://127.0.0.1:{empty_port}/readyz")
    ts = datetime.now(ZoneInfo(settings.timezone)).isoformat(timespec="seconds")
    out: dict = {}
    for label, items in ((f"batch_{args.batch}", args.batch), ("single", 1)):
        body_path, script = tmp / f"{label}.json", tmp / f"{label}.lua"
        body_path.write_bytes(body(items, ts))
        script.write_text(LUA.substitute(token=token, body=body_path))
        gw = measure(f"{gw_base}/v1/heartbeats", gateway.pid, script, items, args, f"{gw_base}/metrics")
        limit = measure(f"http://127.0.0.1:{empty_port}/v1/heartbeats", empty.pid, script, items, args)
        out[label] = {
            "items_per_request": items,
            "body_bytes": body_path.stat().st_size,
            "gateway": gw,
            "empty_fastapi": limit,
            "vs_empty": round(gw["requests_per_s"] / limit["requests_per_s"], 3),
            # requests in flight when wrk stops are served but not counted by wrk, hence ≥
            "all_accepted": gw["rejected_by_server"] == 0 and gw["accepted_by_server"] >= gw["requests"] * items,
        }
    final = metric_totals(f"{gw_base}/metrics")
    readyz = httpx.get(f"{gw_base}/readyz", timeout=10).status_code
    spooled = int(final["pulse_gateway_spooled_total"])
    batch = out[f"batch_{args.batch}"]
    valid = (
        readyz == 200
        and spooled == 0
        and all(
            r["all_accepted"] and r["gateway"]["non_2xx"] == 0 and r["empty_fastapi"]["non_2xx"] == 0
            for r in out.values()
        )
    )
    return {
        "bench": "gateway_throughput",
        "machine": machine(),
        "config": {
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "wrk_threads": 2,
            "connections": args.connections,
            "kafka_partitions": settings.kafka_partitions,
            "gateway_processes": 1,
        },
        **out,
        "spool": {"readyz_status": readyz, "spooled_records": spooled},
        "valid": valid,
        "goal": {
            "heartbeats_per_s": GOAL_HEARTBEATS_PER_S,
            "measured": batch["gateway"]["heartbeats_per_s"],
            "met": valid and batch["gateway"]["heartbeats_per_s"] >= GOAL_HEARTBEATS_PER_S,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of each measured wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured wrk run before each measured one")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=500, help="heartbeats per request of the batch case")
    parser.add_argument("--serve-empty", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_empty:
        serve_empty(args.serve_empty)
        return
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="pulse-bench-gw-") as tmp:
        settings = isolate(fresh_database(load_settings(), "pulse_bench_gw"), Path(tmp))
        with connect(settings, autocommit=True) as conn:
            token = bench_gateway(conn, settings)
        ensure_topics(settings)
        comps = Components(settings)
        try:
            result = run(args, settings, comps, token, Path(tmp))
        finally:
            comps.stop_all()
            asyncio.run(delete_topics(settings))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
