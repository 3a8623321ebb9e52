"""Province-scale load on the whole stack, sustained: 150,000 cameras beating once a minute and 100,000 app users.

Runs every component as its own process, as a deployment would — `pulse camera-gateway`, `pulse app-events`,
`pulse ingest`, `pulse alerts`, `pulse api` — on the local Kafka and TimescaleDB, in a fresh database
(`pulse_bench_province`) and a fresh topic prefix. Set-up (not timed as load): the cameras imported with
`pulse cameras import` (a CSV of --cameras rows over the 37 communes), one gateway per 500 cameras.

Load, on a fixed schedule for --minutes after a --warmup-s warm-up:
- cameras: every gateway posts its 500 cameras' heartbeats once a minute (`ts` = now), the gateways spread evenly
  over the minute — --cameras / 60 heartbeats/s;
- citizens: --users citizens, each opening the app --sessions-per-user-hour times an hour on average (Poisson,
  a citizen picked at random): one request per session with app_open and 3–9 screen/news/camera events, now and
  then a feedback (the busy hour of a district's day, well above its average).
Measured during the load:
- throughput: heartbeats and events sent, acknowledged, and stored (rows counted in the database);
- consumer lag of both ingest groups (ingest's own `pulse_ingest_consumer_lag`, sampled every 2 s);
- end-to-end latency: every second a probe camera's heartbeat from the gateway's 202 to `GET /api/v1/cameras/{id}`
  showing it, and every 2 s a probe event from the collector's answer to its row in `app_events`;
- CPU (cores) and resident memory of every process: each component, Kafka, all PostgreSQL processes, this
  load generator;
- incidents opened (every camera keeps beating: any camera incident is a false alert);
- the database's growth, per stored row and per day of data at this run's rates.
Limits measured in the same run: a raw `COPY` of 200,000 heartbeat rows into `heartbeats` itself, rolled back
(what PostgreSQL takes with nothing else to do; the harness's heartbeat rate is a fraction of it), and the
latency of an empty FastAPI endpoint served like the gateway (the HTTP floor under the latency figures).

Kafka is whatever `PULSE_KAFKA_BOOTSTRAP` names: the local broker, or the three-node cluster of `pulse infra start
--kafka-brokers 3` with the variables that command prints (`PULSE_KAFKA_BOOTSTRAP=… PULSE_KAFKA_REPLICATION=3`);
the CPU and memory of every local node are counted, and the JSON says how many brokers ran.

Prints one JSON object. Usage: python -m bench.province_load [--minutes 10] [--cameras 150000] [--users 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
import uvloop

from bench.common import fresh_database, machine, percentiles
from bench.ingest_throughput import make_rows, time_raw_copy
from bench.latency import Probe, every
from bench.procs import (
    PULSE,
    Components,
    children_of,
    component_env,
    delete_topics,
    ensure_topics,
    free_port,
    isolate,
    kafka_pids,
    postgres_pids,
    total_cpu_seconds,
)
from services.core import accounts
from services.core.db import connect
from services.core.settings import Settings, load_settings

PER_GATEWAY = 500
GENERATOR = "load generator (this process)"
PSEUDONYM_KEY = "bench-province-pseudonym-key"
SAMPLE_S, LAG_SAMPLE_S, PROBE_CAMERA_EVERY_S, PROBE_EVENT_EVERY_S, POLL_S = 10.0, 2.0, 1.0, 2.0, 0.015
SCREENS = [
    ("screen_view", {"screen": "home"}),
    ("news_read", {"article_id": "a-1"}),
    ("camera_viewed", {"camera_id": "cam-000001"}),
]
TABLES = (
    "heartbeats",
    "camera_intervals",
    "camera_status",
    "app_events",
    "app_event_seen",
    "app_subjects",
    "engagement_daily",
    "engagement_monthly",
    "engagement_first",
    "engagement_name_sets",
    "engagement_name_counts",
    "engagement_event_names",
)


def camera_csv(path: Path, cameras: int, codes: list[str]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["camera_id", "unit_code", "name", "interval_s", "stream_url", "lat", "lon"])
        for c in range(cameras):
            out.writerow([f"cam-{c:06d}", codes[(c // PER_GATEWAY) % len(codes)], f"Camera {c}", 60, "", "", ""])


class Processes:
    """CPU and resident memory of the stack's processes, sampled from /proc."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.cpu: dict[str, list[float]] = {name: [] for name in pids}
        self.rss_mib: dict[str, list[float]] = {name: [] for name in pids}
        self.last = self._cpu_now()

    def _cpu_now(self) -> tuple[float, dict[str, float]]:
        if "postgresql" in self.pids:  # backends come and go
            self.pids["postgresql"] = postgres_pids()
        for name, pids in self.pids.items():  # a component's own child processes (ingest's rollup) count as its
            if name not in ("postgresql", "kafka", GENERATOR):
                self.pids[name] = [pids[0], *children_of(pids[0])]
        return time.monotonic(), {name: total_cpu_seconds(pids) for name, pids in self.pids.items()}

    def sample(self) -> None:
        at, cpu = self._cpu_now()
        before_at, before = self.last
        for name, seconds in cpu.items():
            self.cpu[name].append(max(0.0, seconds - before.get(name, 0.0)) / (at - before_at))
            self.rss_mib[name].append(sum(_rss_kib(p) for p in self.pids[name]) / 1024)
        self.last = (at, cpu)

    def summary(self) -> dict:
        return {
            name: {
                "cpu_cores_mean": round(statistics.mean(self.cpu[name]), 3) if self.cpu[name] else None,
                "cpu_cores_max": round(max(self.cpu[name]), 3) if self.cpu[name] else None,
                "rss_mib_max": round(max(self.rss_mib[name]), 1) if self.rss_mib[name] else None,
            }
            for name in self.pids
        }


def _rss_kib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def sizes(conn: psycopg.Connection) -> dict[str, int]:
    """Bytes per table (hypertables with their chunks and indexes) and rows of the two big ones."""
    out = {}
    for table in TABLES:
        hyper = conn.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s", (table,)
        ).fetchone()
        query = "SELECT hypertable_size(%s::regclass) AS b" if hyper else "SELECT pg_total_relation_size(%s) AS b"
        out[table] = int(conn.execute(query, (table,)).fetchone()["b"] or 0)
    out["database"] = int(conn.execute("SELECT pg_database_size(current_database()) AS b").fetchone()["b"])
    return out


def stored_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {
        "heartbeats": conn.execute("SELECT count(*) AS n FROM heartbeats").fetchone()["n"],
        "app_events": conn.execute("SELECT count(*) AS n FROM app_events").fetchone()["n"],
    }


def raw_copy_rows_per_s(conn: psycopg.Connection, cameras: int, per_camera: int) -> float:
    """The limit: `bench.ingest_throughput`'s raw COPY of heartbeat rows into `heartbeats` itself (the hypertable,
    its indexes, its WAL), rolled back afterwards so the run's data stays as it was."""
    gateway_id = conn.execute("SELECT min(gateway_id) AS g FROM gateways").fetchone()["g"]
    rows = make_rows(cameras, per_camera, gateway_id)  # cam-NNNNN: no clash with this run's cam-NNNNNN
    with conn.transaction(force_rollback=True):
        return len(rows) / time_raw_copy(conn, rows)


class Load:
    def __init__(self, args: argparse.Namespace, settings: Settings, tokens: list[str], app_key: str) -> None:
        self.args, self.settings, self.tokens, self.app_key = args, settings, tokens, app_key
        self.gateway_url = f"http://127.0.0.1:{settings.gateway_port}/v1/heartbeats"
        self.collector_url = f"http://127.0.0.1:{args.collector_port}/v1/events"
        self.sent = {"heartbeats": 0, "events": 0, "requests_failed": 0}
        self.failures: Counter[str] = Counter()  # why requests failed: a status code or an exception's name
        self.acknowledged = {"heartbeats": 0, "events": 0}
        self.late: list[float] = []
        self.rng = random.Random(2026)
        self.codes: list[str] = []

    def heartbeat_body(self, gateway: int, ts: str) -> bytes:
        first = gateway * PER_GATEWAY
        items = ",".join(f'{{"camera_id":"cam-{c:06d}","ts":"{ts}"}}' for c in range(first, first + PER_GATEWAY))
        return f'{{"heartbeats":[{items}]}}'.encode()

    def session_body(self) -> bytes:
        user = self.rng.randrange(self.args.users)
        now = datetime.now(UTC).isoformat()
        kinds = [("app_open", {})] + [self.rng.choice(SCREENS) for _ in range(self.rng.randint(3, 9))]
        if self.rng.random() < 0.05:
            kinds.append(("feedback_submitted", {"category": "lighting"}))
        unit = self.codes[user % len(self.codes)]
        events = [
            {
                "event_id": str(uuid.uuid4()),
                "event": name,
                "created_at": now,
                "user_id": f"citizen-{user:06d}",
                "unit_code": unit,
                "properties": props,
            }
            for name, props in kinds
        ]
        install = str(uuid.UUID(int=user + 1))
        envelope = {
            "sent_at": now,
            "context": {"install_id": install, "platform": "android", "app_version": "2.3.1"},
            "events": events,
        }
        return json.dumps(envelope).encode()

    async def post(self, http: httpx.AsyncClient, url: str, body: bytes, headers: dict, kind: str, n: int) -> None:
        self.sent[kind] += n
        try:
            r = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.sent["requests_failed"] += 1
            self.failures[f"{kind}: {type(exc).__name__}"] += 1
            return
        if r.status_code in (200, 202):
            self.acknowledged[kind] += r.json()["accepted"]
        else:
            self.sent["requests_failed"] += 1
            self.failures[f"{kind}: HTTP {r.status_code} {r.text[:80]}"] += 1

    async def run(self, http: httpx.AsyncClient, until: float) -> None:
        gateways = len(self.tokens)
        started = time.monotonic()

        async def beat(i: int) -> None:
            self.late.append(time.monotonic() - (started + i * 60 / gateways))
            g = i % gateways
            body = self.heartbeat_body(g, datetime.now(UTC).isoformat(timespec="milliseconds"))
            headers = {"Authorization": f"Bearer {self.tokens[g]}", "Content-Type": "application/json"}
            await self.post(http, self.gateway_url, body, headers, "heartbeats", PER_GATEWAY)

        async def sessions() -> None:
            rate = self.args.users * self.args.sessions_per_user_hour / 3600
            headers = {"X-App-Key": self.app_key, "Content-Type": "application/json"}
            tasks = []
            next_at = time.monotonic()
            while next_at < until:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                body = self.session_body()
                n = body.count(b'"event_id"')
                tasks.append(asyncio.create_task(self.post(http, self.collector_url, body, headers, "events", n)))
                next_at += self.rng.expovariate(rate)
            await asyncio.gather(*tasks)

        await asyncio.gather(every(60 / gateways, until, beat), sessions())


async def event_probe(http: httpx.AsyncClient, url: str, app_key: str, db: psycopg.AsyncConnection) -> float | None:
    """Seconds from the collector's answer to the event's row in `app_events` (None if not within 30 s)."""
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()
    body = {
        "sent_at": now,
        "context": {"install_id": str(uuid.uuid4()), "platform": "android", "app_version": "2.3.1"},
        "events": [{"event_id": event_id, "event": "app_open", "created_at": now, "unit_code": "15865"}],
    }
    r = await http.post(url, json=body, headers={"X-App-Key": app_key})
    answered = time.monotonic()
    if r.status_code != 200 or r.json()["accepted"] != 1:
        raise RuntimeError(f"event probe answered {r.status_code}: {r.text}")
    while time.monotonic() < answered + 30:
        found = await (await db.execute("SELECT 1 FROM app_events WHERE event_id = %s", (event_id,))).fetchone()
        if found:
            return time.monotonic() - answered
        await asyncio.sleep(POLL_S)
    return None


async def measure(args, settings: Settings, tokens: list[str], app_key: str, api_token: str, comps) -> dict:
    load = Load(args, settings, tokens, app_key)
    with connect(settings, autocommit=True) as conn:
        load.codes = [r["code"] for r in conn.execute("SELECT code FROM units WHERE unit_set = '2024' ORDER BY code")]
    pids = {name: [proc.pid] for name, proc in comps.procs.items() if name != "empty-fastapi"}
    pids["kafka"] = kafka_pids()
    pids["postgresql"] = postgres_pids()
    pids[GENERATOR] = [os.getpid()]
    ingest_metrics = f"http://127.0.0.1:{settings.ingest_metrics_port}/metrics"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with (
        httpx.AsyncClient(timeout=30, limits=limits) as http,
        httpx.AsyncClient(timeout=30) as probe_http,
        await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as db,
    ):
        api = f"http://127.0.0.1:{settings.api_port}"
        probe_token = probe_gateway_token(settings)
        probe = Probe(
            probe_http,
            load.gateway_url,
            api,
            {"Authorization": f"Bearer {probe_token}", "Content-Type": "application/json"},
            {"Authorization": f"Bearer {api_token}"},
            ZoneInfo(settings.timezone),
        )
        empty_url = f"http://127.0.0.1:{args.empty_port}/v1/heartbeats"
        # Warm-up: the full load, unmeasured (consumer groups join, cameras get their first heartbeat).
        await load.run(http, time.monotonic() + args.warmup_s)
        if await probe.once("probe-1", wait_s=60) is None:
            raise RuntimeError("warm-up probe never became visible: is ingest consuming?")
        procs = Processes(pids)
        before_sizes, before_rows = sizes_and_rows(settings)
        opened_before = incidents(settings)
        sent_before, acked_before = dict(load.sent), dict(load.acknowledged)
        started = time.monotonic()
        until = started + args.minutes * 60
        lag: dict[str, list[float]] = {}
        empty_rtts: list[float] = []

        async def sampler() -> None:
            next_cpu = time.monotonic() + SAMPLE_S
            while time.monotonic() < until:
                await asyncio.sleep(LAG_SAMPLE_S)  # ok: the sampling period
                for topic, value in ingest_lag((await probe_http.get(ingest_metrics)).text).items():
                    lag.setdefault(topic, []).append(value)
                if time.monotonic() >= next_cpu:
                    procs.sample()
                    next_cpu += SAMPLE_S

        async def empty(i: int) -> None:
            asked = time.monotonic()
            await probe_http.post(empty_url, content=b'{"heartbeats":[]}')
            empty_rtts.append(time.monotonic() - asked)

        results = await asyncio.gather(
            load.run(http, until),
            sampler(),
            every(PROBE_CAMERA_EVERY_S, until, lambda i: probe.once(f"probe-{i % 5 + 1}")),
            every(PROBE_EVENT_EVERY_S, until, lambda i: event_probe(probe_http, load.collector_url, app_key, db)),
            every(PROBE_CAMERA_EVERY_S, until, empty),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
        after_sizes, after_rows = sizes_and_rows(settings)  # read right after the load stopped
        drained_at = time.monotonic()
        # Accounting over the whole run (warm-up and probes included): everything acknowledged must be stored.
        probes = {"heartbeats": len(probe.post_rtts), "events": _count(results[3])}
        accounting = await account(settings, load, probes)
        lag_after = ingest_lag((await probe_http.get(ingest_metrics)).text)
    errors = [r for r in results if isinstance(r, BaseException)]
    camera_lat = [r for r in results[2] if isinstance(r, float)] if isinstance(results[2], list) else []
    event_lat = [r for r in results[3] if isinstance(r, float)] if isinstance(results[3], list) else []
    sent = {k: load.sent[k] - sent_before.get(k, 0) for k in load.sent}
    acked = {k: load.acknowledged[k] - acked_before[k] for k in load.acknowledged}
    stored = {k: after_rows[k] - before_rows[k] for k in before_rows}
    day = 86400 / elapsed
    return {
        "run": {"seconds": round(elapsed, 1), "gateways": len(tokens), "send_late_max_ms": _late_ms(load.late)},
        "throughput": {
            "heartbeats_per_s": {
                "target": round(args.cameras / 60, 1),
                "sent": round(sent["heartbeats"] / elapsed, 1),
                "acknowledged": round(acked["heartbeats"] / elapsed, 1),
                "stored": round(stored["heartbeats"] / elapsed, 1),
            },
            "events_per_s": {
                "sent": round(sent["events"] / elapsed, 1),
                "acknowledged": round(acked["events"] / elapsed, 1),
                "stored": round(stored["app_events"] / elapsed, 1),
            },
            "requests_failed": sent["requests_failed"],
            "failures": dict(load.failures),
            "note": "stored = rows added between the start and a read right after the load stopped",
        },
        "consumer_lag_messages": {
            topic: {"p50": statistics.median(v), "p95": _pick(v, 0.95), "max": max(v), "samples": len(v)}
            for topic, v in lag.items()
        },
        "consumer_lag_after_load": lag_after,
        "latency": {
            "heartbeat_202_to_api": {
                **(percentiles(camera_lat) if camera_lat else {"n": 0}),
                "probes": len(results[2]) if isinstance(results[2], list) else 0,
            },
            "event_200_to_row": {
                **(percentiles(event_lat) if event_lat else {"n": 0}),
                "probes": len(results[3]) if isinstance(results[3], list) else 0,
            },
            "limit_empty_fastapi_post": percentiles(empty_rtts) if empty_rtts else {"n": 0},
            "limit_probe_post_202_median_ms": round(statistics.median(probe.post_rtts) * 1000, 2),
        },
        "processes": procs.summary(),
        "incidents_opened": {k: v - opened_before.get(k, 0) for k, v in incidents(settings).items()},
        "database": database_growth(before_sizes, after_sizes, stored, day, args.cameras),
        "drain_read_s": round(drained_at - started - elapsed, 2),
        "accounting": accounting,
        "errors": [repr(e) for e in errors[:5]],
    }


def database_growth(before: dict[str, int], after: dict[str, int], stored: dict[str, int], day: float, cameras: int):
    grown = {t: after[t] - before[t] for t in before}
    heartbeat_bytes = (grown["heartbeats"] / stored["heartbeats"]) if stored["heartbeats"] else None
    event_tables = [t for t in TABLES if t.startswith(("app_", "engagement"))]
    event_bytes = sum(grown[t] for t in event_tables) / stored["app_events"] if stored["app_events"] else None
    return {
        "grown_bytes": grown,
        "bytes_per_heartbeat": round(heartbeat_bytes, 1) if heartbeat_bytes else None,
        "bytes_per_app_event_incl_activity": round(event_bytes, 1) if event_bytes else None,
        "heartbeats_per_day_gib": round(heartbeat_bytes * cameras * 1440 / 2**30, 1) if heartbeat_bytes else None,
        "database_per_day_at_this_run_gib": round(grown["database"] * day / 2**30, 1),
        "note": "per-day figures extrapolate this run: heartbeats at one a minute all day; app events at the"
        " busy-hour rate all day (an overstatement); chunks in their first hours, before any retention",
    }


async def account(settings: Settings, load: Load, probes: dict[str, int], wait_s: float = 120) -> dict:
    """Wait (up to `wait_s`) until every acknowledged heartbeat and event is stored; report the counts."""
    want = {k: load.acknowledged[k] + probes[k] for k in ("heartbeats", "events")}
    started = time.monotonic()
    while True:
        got = await asyncio.to_thread(sizes_and_rows, settings)
        stored = {"heartbeats": got[1]["heartbeats"], "events": got[1]["app_events"]}
        if stored == want or time.monotonic() - started > wait_s:
            break
        await asyncio.sleep(1)  # ok: polling the database's counts
    return {
        "acknowledged": want,
        "stored": stored,
        "complete": stored == want,
        "waited_s": round(time.monotonic() - started, 1),
    }


def _count(results: object) -> int:
    """Probes whose request was accepted (seen in time or not)."""
    return sum(1 for r in results if not isinstance(r, BaseException)) if isinstance(results, list) else 0


def sizes_and_rows(settings: Settings) -> tuple[dict[str, int], dict[str, int]]:
    with connect(settings, autocommit=True) as conn:
        return sizes(conn), stored_counts(conn)


def incidents(settings: Settings) -> dict[str, int]:
    with connect(settings, autocommit=True) as conn:
        return {r["kind"]: r["n"] for r in conn.execute("SELECT kind, count(*) AS n FROM incidents GROUP BY kind")}


def probe_gateway_token(settings: Settings) -> str:
    with connect(settings, autocommit=True) as conn:
        return accounts.create_gateway(conn, name="probe", unit_set="2024", unit_codes=["15865"])


def ingest_lag(metrics_text: str) -> dict[str, float]:
    """`pulse_ingest_consumer_lag` per topic (without the run's prefix) from ingest's /metrics text."""
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith("pulse_ingest_consumer_lag{"):
            topic = line.split('topic="', 1)[1].split('"', 1)[0].split(".", 1)[-1]
            out[topic] = float(line.rsplit(" ", 1)[1])
    return out


def _pick(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _late_ms(late: list[float]) -> float | None:
    return round(max(late) * 1000, 1) if late else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--warmup-s", type=float, default=90)
    parser.add_argument("--cameras", type=int, default=150_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--sessions-per-user-hour", type=float, default=1.0)
    args = parser.parse_args()
    if args.cameras % PER_GATEWAY:
        parser.error(f"--cameras must be a multiple of {PER_GATEWAY}")
    tmp = tempfile.mkdtemp(prefix="pulse-bench-province-")  # kept: the components' logs, named in the output
    settings = isolate(fresh_database(load_settings(), "pulse_bench_province"), Path(tmp))
    args.collector_port, args.empty_port = free_port(), free_port()
    with connect(settings, autocommit=True) as conn:
        codes = [r["code"] for r in conn.execute("SELECT code FROM units WHERE unit_set = '2024' ORDER BY code")]
        tokens = [
            accounts.create_gateway(conn, name=f"gw-{g:03d}", unit_set="2024", unit_codes=[codes[g % len(codes)]])
            for g in range(args.cameras // PER_GATEWAY)
        ]
        app_key = accounts.create_app(conn, name="HoangHoaS (bench)")
        accounts.create_operator(conn, username="bench", role="admin", unit_set="2024", unit_codes=[], password=None)
        api_token = accounts.create_api_token(conn, username="bench")
    csv_path = Path(tmp) / "cameras.csv"
    camera_csv(csv_path, args.cameras, codes)
    comps = Components(settings)
    comps.extra_env = {
        "PULSE_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "PULSE_APP_EVENTS_PORT": str(args.collector_port),
        "PULSE_ALERTS_METRICS_PORT": str(free_port()),
        "PULSE_APP_EVENTS_RATE_PER_MINUTE": "600",
    }
    started = time.monotonic()
    imported = subprocess.run(
        [str(PULSE), "cameras", "import", str(csv_path)],
        env=component_env(settings) | comps.extra_env,
        capture_output=True,
        text=True,
    )
    if imported.returncode != 0:
        raise RuntimeError(f"camera import failed: {imported.stderr[-2000:]}")
    import_s = time.monotonic() - started
    ensure_topics(settings)
    try:
        for command in ("camera-gateway", "app-events", "ingest", "alerts", "api"):
            comps.pulse(command)
        comps.start(
            "empty-fastapi",
            [sys.executable, "-m", "bench.gateway_throughput", "--serve-empty", str(args.empty_port)],
        )
        comps.wait_ok("camera-gateway", f"http://127.0.0.1:{settings.gateway_port}/readyz")
        comps.wait_ok("app-events", f"http://127.0.0.1:{args.collector_port}/readyz")
        comps.wait_ok("ingest", f"http://127.0.0.1:{settings.ingest_metrics_port}/metrics")
        comps.wait_ok("api", f"http://127.0.0.1:{settings.api_port}/readyz")
        comps.wait_ok("empty-fastapi", f"http://127.0.0.1:{args.empty_port}/readyz")
        result = uvloop.run(measure(args, settings, tokens, app_key, api_token, comps))
        alive = {name: proc.poll() is None for name, proc in comps.procs.items()}
    finally:
        comps.stop_all()
        asyncio.run(delete_topics(settings))
    with connect(settings, autocommit=True) as conn:
        copy_limit = raw_copy_rows_per_s(conn, 5_000, 40)
    hb = result["throughput"]["heartbeats_per_s"]
    out = {
        "bench": "province_load",
        "machine": machine(),
        "config": {
            "minutes": args.minutes,
            "warmup_s": args.warmup_s,
            "cameras": args.cameras,
            "users": args.users,
            "sessions_per_user_hour": args.sessions_per_user_hour,
            "cameras_per_gateway": PER_GATEWAY,
            "camera_import_s": round(import_s, 1),
            "kafka_brokers": len(kafka_pids()),
            "kafka_replication": settings.kafka_replication,
        },
        **result,
        "limits": {
            "raw_copy_heartbeat_rows_per_s": round(copy_limit),
            "heartbeat_load_share_of_raw_copy": round(hb["stored"] / copy_limit, 3),
        },
        "components_alive": alive,
        "logs": tmp,
    }
    csv_path.unlink()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
