"""Pipeline latency: how long after the gateway's 202 a heartbeat is visible in the API, under steady load.

Runs `pulse camera-gateway`, `pulse ingest` and `pulse api` as subprocesses on the real Kafka and TimescaleDB.
- Load: 10 requests/s of 500 heartbeats (cameras cam-00001…cam-05000, each camera once a second, each request's
  `ts` = now), i.e. 5,000 heartbeats/s, sent on a fixed schedule with an httpx.AsyncClient for --seconds.
- Probe: every 200 ms, one heartbeat for probe-1…probe-5 (round robin) with a fresh `ts`; then
  `GET /api/v1/cameras/{id}` every 15 ms until `last_seen` ≥ that ts. Latency = time of the first GET that shows
  it − time the 202 arrived, so its resolution is one GET round trip. (≥ rather than =: the same camera is probed
  again a second later, and a later heartbeat of a camera is stored after the earlier one, in one partition.)
Before measuring, one probe is awaited unmeasured: the ingest consumer has to join its group first.

Limit, same run: the median round trip of the probe's own POST (202) and of one GET of the camera endpoint —
what the figure would be if the pipeline added nothing. Ingest batches by size and by time (`ingest` in the JSON):
it waits up to `batch_wait_s` for a first record and then writes it with whatever has already arrived, so under
steady load a batch is written as soon as the previous one is.

Goal: p99 < 1 s, with every probe seen and the load really applied. Isolation: database `pulse_bench_latency`
(recreated), topic prefix `bench-<uuid8>.` (deleted at the end), a temp data dir, free ports. The load generator,
the three components, Kafka and PostgreSQL share the machine's cores.

Usage: python bench/latency.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/…` must find the `bench` package

import httpx

from bench.common import bench_gateway, fresh_database, machine, percentiles
from bench.procs import Components, delete_topics, ensure_topics, isolate, metric_totals
from services.core import accounts
from services.core.db import connect
from services.core.settings import Settings, load_settings
from services.ingest.consumer import Pipeline

BATCH, REQUESTS_PER_S, BLOCKS = 500, 10, 10  # BLOCKS × BATCH distinct cameras
PROBE_EVERY_S, POLL_S, PROBE_TIMEOUT_S = 0.2, 0.015, 10.0
PROBES = [f"probe-{i}" for i in range(1, 6)]
GOAL_P99_S = 1.0


@dataclasses.dataclass
class Probe:
    http: httpx.AsyncClient
    push_url: str
    api_url: str
    push_headers: dict[str, str]
    api_headers: dict[str, str]
    tz: ZoneInfo
    post_rtts: list[float] = dataclasses.field(default_factory=list)
    get_rtts: list[float] = dataclasses.field(default_factory=list)

    async def once(self, camera: str, wait_s: float = PROBE_TIMEOUT_S) -> float | None:
        """Seconds from the 202 to the first GET that shows the heartbeat; None if not seen within `wait_s`."""
        ts = datetime.now(self.tz)
        body = json.dumps({"heartbeats": [{"camera_id": camera, "ts": ts.isoformat()}]})
        sent = time.monotonic()
        r = await self.http.post(self.push_url, content=body, headers=self.push_headers)
        accepted_at = time.monotonic()
        if r.status_code != 202 or r.json()["accepted"] != 1:
            raise RuntimeError(f"probe push answered {r.status_code}: {r.text}")
        self.post_rtts.append(accepted_at - sent)
        while time.monotonic() < accepted_at + wait_s:
            asked = time.monotonic()
            r = await self.http.get(f"{self.api_url}/api/v1/cameras/{camera}", headers=self.api_headers)
            seen = time.monotonic()
            self.get_rtts.append(seen - asked)
            if r.status_code == 200:
                last = r.json()["last_seen"]
                if last is not None and datetime.fromisoformat(last) >= ts:
                    return seen - accepted_at
            elif r.status_code != 404:  # 404: ingest has not registered the camera yet
                raise RuntimeError(f"camera GET answered {r.status_code}: {r.text}")
            await asyncio.sleep(POLL_S)
        return None


async def every(interval: float, until: float, job) -> list:
    """Start `job(i)` every `interval` seconds on a fixed schedule (a slow one does not delay the next)."""
    tasks, start, i = [], time.monotonic(), 0
    while start + i * interval < until:
        await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
        tasks.append(asyncio.create_task(job(i)))
        i += 1
    return await asyncio.gather(*tasks, return_exceptions=True)


async def measure(settings: Settings, gateway_token: str, api_token: str, seconds: int) -> dict:
    tz = ZoneInfo(settings.timezone)
    push_url = f"http://127.0.0.1:{settings.gateway_port}/v1/heartbeats"
    push_headers = {"Authorization": f"Bearer {gateway_token}", "Content-Type": "application/json"}
    api_headers = {"Authorization": f"Bearer {api_token}"}
    async with httpx.AsyncClient(timeout=30) as load_http, httpx.AsyncClient(timeout=30) as probe_http:
        probe = Probe(probe_http, push_url, f"http://127.0.0.1:{settings.api_port}", push_headers, api_headers, tz)
        if await probe.once(PROBES[0], wait_s=60) is None:
            raise RuntimeError("warm-up probe never became visible: is ingest consuming?")
        probe.post_rtts.clear()
        probe.get_rtts.clear()
        ingest_url = f"http://127.0.0.1:{settings.ingest_metrics_port}/metrics"
        ingest_before = await asyncio.to_thread(metric_totals, ingest_url)
        ingest_before["at"] = time.monotonic()

        push_rtts: list[float] = []
        late: list[float] = []  # how long after its slot a request went out: the load generator's own lag

        async def push(i: int) -> int:
            late.append(time.monotonic() - (started + i / REQUESTS_PER_S))
            ts = datetime.now(tz).isoformat(timespec="milliseconds")
            first = (i % BLOCKS) * BATCH + 1
            items = [{"camera_id": f"cam-{c:05d}", "ts": ts} for c in range(first, first + BATCH)]
            sent = time.monotonic()
            r = await load_http.post(push_url, content=json.dumps({"heartbeats": items}), headers=push_headers)
            push_rtts.append(time.monotonic() - sent)
            return r.json()["accepted"] if r.status_code == 202 else 0

        started = time.monotonic()
        until = started + seconds
        load = asyncio.create_task(every(1 / REQUESTS_PER_S, until, push))
        seen = await every(PROBE_EVERY_S, until, lambda i: probe.once(PROBES[i % len(PROBES)]))
        pushed = await load
        ingest_after = await asyncio.to_thread(metric_totals, ingest_url)
        ingest_after["at"] = time.monotonic()
    errors = [r for r in seen + pushed if isinstance(r, BaseException)]
    latencies = [r for r in seen if isinstance(r, float)]
    accepted = sum(r for r in pushed if isinstance(r, int))
    return {
        "load": {
            "target_per_s": BATCH * REQUESTS_PER_S,
            "requests": len(pushed),
            "requests_failed": sum(1 for r in pushed if not isinstance(r, int) or r != BATCH),
            "heartbeats_accepted": accepted,
            # the schedule spans exactly `seconds`; late sends or slow answers show in the next two figures
            "achieved_per_s": round(accepted / seconds),
            "send_late_max_ms": round(max(late) * 1000, 1),
            "push": percentiles(push_rtts),
        },
        "latency": {
            **(percentiles(latencies) if latencies else {"n": 0}),
            "probes": len(seen),
            "not_seen": sum(1 for r in seen if r is None),
            "given_up_after_s": PROBE_TIMEOUT_S,
        },
        "limit": {
            "probe_post_202_median_ms": round(statistics.median(probe.post_rtts) * 1000, 2),
            "camera_get_median_ms": round(statistics.median(probe.get_rtts) * 1000, 2),
            "camera_gets": len(probe.get_rtts),
        },
        "ingest": ingest_batches(ingest_before, ingest_after),
        "errors": [repr(e) for e in errors[:5]],
    }


def ingest_batches(before: dict[str, float], after: dict[str, float]) -> dict:
    """Ingest's batches during the run, from its /metrics: a cycle is fetch wait + write of one batch."""
    count = after["pulse_ingest_batch_seconds_count"] - before["pulse_ingest_batch_seconds_count"]
    spent = after["pulse_ingest_batch_seconds_sum"] - before["pulse_ingest_batch_seconds_sum"]
    return {
        "batches": int(count),
        "cycle_mean_s": round((after["at"] - before["at"]) / count, 3) if count else None,
        "write_mean_ms": round(1000 * spent / count, 1) if count else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long the load and the probes run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pulse-bench-latency-") as tmp:
        settings = isolate(fresh_database(load_settings(), "pulse_bench_latency"), Path(tmp))
        with connect(settings, autocommit=True) as conn:
            gw_token = bench_gateway(conn, settings)
            accounts.create_operator(
                conn, username="bench", role="admin", unit_set=settings.unit_set, unit_codes=[], password=None
            )
            api_token = accounts.create_api_token(conn, username="bench")
        ensure_topics(settings)
        comps = Components(settings)
        try:
            for command in ("camera-gateway", "ingest", "api"):
                comps.pulse(command)
            comps.wait_ok("camera-gateway", f"http://127.0.0.1:{settings.gateway_port}/readyz")
            comps.wait_ok("ingest", f"http://127.0.0.1:{settings.ingest_metrics_port}/metrics")
            comps.wait_ok("api", f"http://127.0.0.1:{settings.api_port}/readyz")
            result = asyncio.run(measure(settings, gw_token, api_token, args.seconds))
            alive = {name: proc.poll() is None for name, proc in comps.procs.items()}
        finally:
            comps.stop_all()
            asyncio.run(delete_topics(settings))
    batch_wait = next(f.default for f in dataclasses.fields(Pipeline) if f.name == "batch_wait_s")
    latency, load, ingest = result["latency"], result["load"], result.pop("ingest")
    load_ok = (
        load["requests_failed"] == 0
        and load["achieved_per_s"] >= 0.95 * load["target_per_s"]
        and load["send_late_max_ms"] < 1000 / REQUESTS_PER_S
    )
    all_seen = latency["n"] == latency["probes"] > 0
    p99_s = latency["p99_ms"] / 1000 if latency["n"] else None
    out = {
        "bench": "latency",
        "machine": machine(),
        "config": {
            "seconds": args.seconds,
            "probe_every_s": PROBE_EVERY_S,
            "poll_every_s": POLL_S,
            "probe_cameras": len(PROBES),
            "load_cameras": BATCH * BLOCKS,
        },
        **result,
        "ingest": {
            "batch_wait_s": batch_wait,
            "batch_max": settings.ingest_batch_max,
            **ingest,
            "note": "ingest waits up to batch_wait_s for a first record, then writes it with whatever else has"
            " already arrived (up to batch_max); the rollup runs beside the loop",
        },
        "components_alive": alive,
        "goal": {
            "p99_s_below": GOAL_P99_S,
            "measured_p99_s": p99_s,
            "load_ok": load_ok,
            "all_probes_seen": all_seen,
            "met": load_ok and all_seen and p99_s is not None and p99_s < GOAL_P99_S,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
