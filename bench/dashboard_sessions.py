"""Dashboard sessions under the province's load (issue 28): N operators' dashboards, each logged in with its own
session cookie and following the dashboard's own request pattern, against `pulse api` as its own process, while
`pulse camera-gateway`, `pulse app-events`, `pulse ingest` and `pulse alerts` run at bench.province_load's rates.

Data: bench.province_views's seeding (cameras over the 166 units of set 2025 by a fixed weight, a month of state
intervals, one gateway per unit) in a database of its own per size (`pulse_bench_sessions_<cameras>`; `--reuse`
measures it again), seeded up to the real now: the API here runs on the wall clock, not on province_views's fixed
one. With --cameras ≥ 15,000 the first unit of the set (the reference xã) holds --reference-cameras (900, about
the mean at 150,000) whatever the total, so that its operator's `/units` can be compared at 15,000 and at 150,000
cameras with the same unit size ("reference_xa_units"; run the bench at both sizes).

Load (a child process, bench.province_load's generator): every seeded camera's heartbeat once a minute, through
its unit's gateway in requests of at most 500, the gateways' requests spread evenly over the minute (the seed's
silent 2 % stay silent, so cameras are down now); --users citizens opening the app as in province_load. Alerts is
started once every camera has had a heartbeat (one minute of load), so its incidents are the silent cameras'.

Sessions (one httpx.AsyncClient each, its own cookie jar): the 166 xã operators (role commune, their 2025 unit),
the former districts' operators (role district) and the province's (admin, viewer) — 200 sessions are all of
them; other counts take the same shares. Each logs in (`POST /api/v1/session`, then `GET /api/v1/me`, as
app.js), then, as dashboards/web/static/*.js do, refreshes the page on screen 5 s after the previous refresh
answered (app.js REFRESH_MS):
- the overview (overview.js): `/units`, `/cameras?state=down&limit=15`, `/incidents?status=open&limit=15` at
  once; the province's operators also `/engagement` on the first refresh and every 12th (session.js SLOW_EVERY);
- now and then (after an exponential stay on the overview, mean OVERVIEW_MEAN_S) a unit page (unit.js; a xã's
  own unit, a unit of the district's, any unit for the province) for UNIT_STAY_S: `/units`,
  `/cameras?unit=…&limit=10000`, `/devices?unit=…` at once; on its first and every 12th refresh also
  `/uptime/series?window=24h` and `/engagement` then `/engagement/daily` (seeded cameras have no stream: no
  snapshot thumbnails); or, less often, the open incidents (incidents.js: `/incidents?status=open&limit=200`).
A response's `ETag` is sent back as `If-None-Match` (a 304 reuses the stored body); a 503 waits its Retry-After
(at least the 5 s) and counts apart from errors; any other status, a timeout (TIMEOUT_S) or a broken connection is
an error. --push: each session also holds `GET /api/v1/live/events?unit_set=2025` (text/event-stream) open and
refreshes its page on an event (at most every PUSH_MIN_GAP_S), polling only every PUSH_FALLBACK_S otherwise; a
404 there reports push as unavailable and the sessions poll as without --push.

Measured over --duration after --warmup-s (requests started in the window): per route p50/p95/p99 (and `in_api`:
the same figures of what the API says it spent, its `Server-Timing`, so the rest is network and client), 304s, 503s,
errors (with reasons), requests/s, pushed events; the API process's CPU (utime + stime of it and its children from
/proc, before and after) as cores and ms per request; every component's CPU (10-s samples); the sessions'
process's own CPU and event-loop lag (a busy client inflates latencies). Limits in the same run: `GET /api/v1/me`
once a second (auth and HTTP, no work), beside the reference xã's `/units` once a second. --nice-pipeline N: every
process but the API and PostgreSQL runs at niceness N over the window (what cores of their own would give them).

--browser (bench.dashboard_browser, a process of its own): the overview in Debian's Chromium over the same window —
one browser, a context for a province operator and one for the reference xã's, each logged in once through the
dashboard's form. "tiles_ms": every 20 s each opens the overview afresh (a new page, cookies and cache kept), timed
from navigation start until the KPIs and all its tiles are on screen (with the KPI's camera count checked, and the
first load screenshot into the logs' folder). "pushed": the province operator's overview page from the log-in stays
open, never reloaded; every 40 s a camera that just beat is sent a "down" heartbeat through its unit's gateway token,
timed until that page shows it (its unit's tile, or the list of cameras down), then sent "ok" again. Also the
browser's CPU (cores). The browser's own requests are not among the sessions' figures (they are in the API's CPU).

Goals (issue 28): 200 sessions at 150,000 cameras: zero errors, p95 < 300 ms on every route, the API below one
core; at 5,000 cameras (`make demo`'s fleet; --users then defaults to its 20,000 citizens): p95 < 200 ms; the
reference xã's `/units` at 15,000 and 150,000 cameras within 1.5× of each other; in Chromium (--browser), the
overview's tiles in < 1 s at every load and a camera down shown on the open page within 5 s, pushed.

Usage: python -m bench.dashboard_sessions [--sessions 200] [--duration 300] [--cameras 150000] [--push] [--browser]
       [--reuse]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
import uvloop

from bench.common import fresh_database, machine, percentiles
from bench.dashboard_browser import browser_result, start_browser
from bench.procs import (
    Components,
    children_of,
    cpu_seconds,
    delete_topics,
    ensure_topics,
    free_port,
    isolate,
    kafka_pids,
    postgres_pids,
    total_cpu_seconds,
)
from bench.province_load import PER_GATEWAY, PSEUDONYM_KEY, Load, Processes
from bench.province_views import PASSWORD, VIEW, camera_counts, seed
from services.core import accounts, auth
from services.core.db import DbConn, connect
from services.core.migrate import migrate
from services.core.settings import Settings, load_settings
from services.core.units import list_units

REFRESH_S = 5.0  # app.js REFRESH_MS: the next refresh 5 s after the previous one answered
SLOW_EVERY = 12  # session.js: charts and engagement every 12th refresh
OVERVIEW_MEAN_S = 90.0  # mean stay on the overview before opening another page
UNIT_SHARE = 0.7  # of those pages, a unit page; the rest the open incidents
UNIT_STAY_S, INCIDENTS_STAY_S = (30.0, 60.0), (15.0, 30.0)
PUSH_FALLBACK_S, PUSH_MIN_GAP_S, PUSH_RETRY_S = 30.0, 1.0, 3.0
TIMEOUT_S = 30.0
LOAD_LEAD_S = 62.0  # every camera beats once before alerts start and the sessions begin
PROBE_EVERY_S = 1.0
LOGINS_AT_ONCE = 4  # argon2 per log-in: a few at a time
SILENT_S = 1800  # a seeded camera silent this long before the data's now stays silent under the load
GROUPS = ("xa", "district", "province")
LOAD_COUNTS = ("heartbeats", "events", "requests_failed", "heartbeats", "events")  # sent ×3, then acknowledged ×2


def database_name(cameras: int) -> str:
    return f"pulse_bench_sessions_{cameras}"


# --- data and accounts -----------------------------------------------------------------------------------------


def seed_now(settings: Settings, cameras: int, reference_cameras: int) -> dict:
    """province_views's data up to the real now, from local midnight 31 days ago (this month is always whole)."""
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now.astimezone(tz) - timedelta(days=31)).replace(hour=0, minute=0, second=0).astimezone(UTC)
    counts = None
    if reference_cameras:
        with connect(settings, autocommit=True) as conn:
            codes = sorted(u["code"] for u in list_units(conn, VIEW))
        counts = {codes[0]: reference_cameras, **camera_counts(codes[1:], cameras - reference_cameras)}
    return seed(settings, cameras, now=now, start=start, counts=counts)


@dataclass
class Operator:
    username: str
    group: str  # xa | district | province
    units: list[str]  # 2025 units it looks after (a province operator: none listed, it sees all)


def operators(conn: DbConn) -> dict[str, list[Operator]]:
    """One account per xã (commune), per former district with units in 2025 (district), and a few for the
    province (admin and viewer, alternating); made once per database (`--reuse` finds them)."""
    units = sorted(list_units(conn, VIEW), key=lambda u: u["code"])  # the first is the reference xã
    by_district: dict[str, list[str]] = defaultdict(list)
    for u in units:
        if u["former_district_code"]:
            by_district[u["former_district_code"]].append(u["code"])
    made = {r["username"] for r in conn.execute("SELECT username FROM operators")}
    out: dict[str, list[Operator]] = {"xa": [], "district": [], "province": []}
    for u in units:
        out["xa"].append(Operator(f"xa-{u['code']}", "xa", [u["code"]]))
        if out["xa"][-1].username not in made:
            accounts.create_operator(
                conn,
                username=f"xa-{u['code']}",
                role="commune",
                unit_set=VIEW,
                unit_codes=[u["code"]],
                password=PASSWORD,
            )
    for code, codes in sorted(by_district.items()):
        in_set = conn.execute(  # a set that names the district (2025 has none: they are former ones)
            "SELECT unit_set FROM unit_groups WHERE code = %s AND level = 'district' ORDER BY unit_set DESC", (code,)
        ).fetchone()
        if in_set is None:
            continue
        out["district"].append(Operator(f"district-{code}", "district", codes))
        if f"district-{code}" not in made:
            accounts.create_operator(
                conn,
                username=f"district-{code}",
                role="district",
                unit_set=in_set["unit_set"],
                unit_codes=[],
                password=PASSWORD,
                district_code=code,
            )
    for k in range(max(1, 200 - len(out["xa"]) - len(out["district"]))):
        role = "admin" if k % 2 == 0 else "viewer"
        out["province"].append(Operator(f"province-{role}-{k}", "province", []))
        if f"province-{role}-{k}" not in made:
            accounts.create_operator(
                conn, username=f"province-{role}-{k}", role=role, unit_set=VIEW, unit_codes=[], password=PASSWORD
            )
    return out


def roster(pool: dict[str, list[Operator]], sessions: int) -> list[Operator]:
    """`sessions` operators in the shares of the full roster (largest remainder), spread over each group's list;
    more sessions than operators log the same operator in again (a second browser)."""
    total = sum(len(v) for v in pool.values())
    shares = {g: sessions * len(pool[g]) / total for g in GROUPS}
    counts = {g: int(s) for g, s in shares.items()}
    for g in sorted(GROUPS, key=lambda g: shares[g] - counts[g], reverse=True)[: sessions - sum(counts.values())]:
        counts[g] += 1
    return [pool[g][(i * len(pool[g]) // counts[g]) % len(pool[g])] for g in GROUPS for i in range(counts[g])]


def gateway_chunks(conn: DbConn) -> tuple[list[list[str]], list[str], int]:
    """The load's "gateways": each unit's beating cameras in requests of at most 500, with a new token for the unit's
    seeded gateway (its token was not kept); and how many cameras stay silent."""
    data_now = conn.execute("SELECT max(last_ts) AS t FROM camera_status").fetchone()["t"]
    rows = conn.execute(
        "SELECT c.camera_id, c.unit_code, cs.last_ts < %s AS silent FROM cameras c"
        " LEFT JOIN camera_status cs USING (camera_id) WHERE c.unit_set = %s ORDER BY c.unit_code, c.camera_id",
        (data_now - timedelta(seconds=SILENT_S), VIEW),
    ).fetchall()
    beating: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if not r["silent"]:
            beating[r["unit_code"]].append(r["camera_id"])
    chunks, tokens = [], []
    for code, ids in beating.items():
        token = auth.new_token("gateway")
        conn.execute("UPDATE gateways SET token_hash = %s WHERE name = %s", (auth.hash_token(token), f"gw-{code}"))
        for i in range(0, len(ids), PER_GATEWAY):
            chunks.append(ids[i : i + PER_GATEWAY])
            tokens.append(token)
    return chunks, tokens, len(rows) - sum(len(c) for c in chunks)


# --- the province's load, in a child process -------------------------------------------------------------------


class SeededLoad(Load):
    """province_load's generator on the seeded cameras: a "gateway" is one request's cameras of one unit."""

    def __init__(self, args, settings, tokens: list[str], app_key: str, chunks: list[list[str]]) -> None:
        super().__init__(args, settings, tokens, app_key)
        self.chunks = chunks

    def heartbeat_body(self, gateway: int, ts: str) -> bytes:
        items = ",".join(f'{{"camera_id":"{c}","ts":"{ts}"}}' for c in self.chunks[gateway])
        return f'{{"heartbeats":[{items}]}}'.encode()

    async def post(self, http, url, body, headers, kind, n) -> None:
        await super().post(http, url, body, headers, kind, body.count(b'"camera_id"') if kind == "heartbeats" else n)


def load_child(conf: dict, counters, stop, results) -> None:
    """Runs the load until `stop` is set; `counters` is kept current: heartbeats sent and acknowledged, events
    sent and acknowledged, failed requests; the failures' reasons go to `results` at the end."""

    async def drive() -> None:
        args = SimpleNamespace(**conf["args"])
        load = SeededLoad(
            args, SimpleNamespace(gateway_port=conf["gateway_port"]), conf["tokens"], conf["app_key"], conf["chunks"]
        )
        load.codes = conf["codes"]
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            running = asyncio.create_task(load.run(http, time.monotonic() + 86400))
            while not stop.is_set() and not running.done():
                counters[:] = [load.sent[k] for k in LOAD_COUNTS[:3]] + [load.acknowledged[k] for k in LOAD_COUNTS[3:]]
                await asyncio.sleep(0.5)
            rest = asyncio.all_tasks() - {asyncio.current_task()}  # the run and the requests it started
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        results.put({"failures": dict(load.failures), "send_late_max_ms": round(max(load.late, default=0) * 1000, 1)})

    uvloop.run(drive())


# --- the sessions ------------------------------------------------------------------------------------------------


class Busy(Exception):
    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s


class Failed(Exception):
    pass


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    in_api: list[float] = field(default_factory=list)  # the API's own `Server-Timing` (queue + app) for the same
    not_modified: int = 0
    busy: int = 0
    errors: int = 0


class Record:
    """What the sessions saw, per route and operator group, for requests started in the measured window."""

    def __init__(self) -> None:
        self.window = (float("inf"), float("inf"))
        self.tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.reasons: Counter[str] = Counter()
        self.etags = 0
        self.pushed: Counter[str] = Counter()  # events by type (`event:`), in the window
        self.pushed_all: Counter[str] = Counter()  # and over the whole run (a stream's first event comes before)
        self.push_errors: Counter[str] = Counter()
        self.push_available: bool | None = None
        self.timeline: list[tuple[float, float]] = []  # (started, seconds) of every answer in the window

    def inside(self, t: float) -> bool:
        return self.window[0] <= t < self.window[1]


def server_time(header: str) -> float:
    """Seconds the API says it spent on an answer (its wait for a turn and its work), from `Server-Timing`."""
    parts = (part.strip().partition(";dur=") for part in header.split(","))
    return sum(float(ms) for _, _, ms in parts if ms) / 1000


class Session:
    def __init__(self, api: str, operator: Operator, record: Record, rng: random.Random, push: bool) -> None:
        self.http = httpx.AsyncClient(base_url=api, timeout=TIMEOUT_S)
        self.operator, self.record, self.rng, self.push = operator, record, rng, push
        self.cache: dict[str, tuple[str, Any]] = {}  # url → (ETag, body)
        self.me: dict = {}
        self.units_seen: list[str] = []
        self.mau: Any = None
        self.poked = asyncio.Event()

    async def log_in(self) -> None:
        body = {"username": self.operator.username, "password": PASSWORD}
        r = await self.http.post("/api/v1/session", json=body)
        if r.status_code != 200:
            raise RuntimeError(f"log-in of {self.operator.username}: {r.status_code} {r.text[:200]}")
        self.me = {**(await self.http.get("/api/v1/me")).json(), **r.json()}  # app.js start(): /me as well

    async def get(self, route: str, path: str, params: dict) -> Any:
        key = f"{path}?{urlencode(sorted(params.items()))}"
        cached = self.cache.get(key)
        headers = {"Accept": "application/json", **({"If-None-Match": cached[0]} if cached else {})}
        started = time.monotonic()
        counted = self.record.inside(started)
        tally = self.record.tallies[(route, self.operator.group)]
        try:
            r = await self.http.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            if counted:
                tally.errors += 1
                self.record.reasons[f"{route}: {type(exc).__name__}"] += 1
            raise Failed from exc
        elapsed = time.monotonic() - started
        if r.status_code == 503:
            if counted:
                tally.busy += 1
            raise Busy(float(r.headers.get("Retry-After") or 1))
        if r.status_code not in (200, 304) or (r.status_code == 304 and cached is None):
            if counted:
                tally.errors += 1
                self.record.reasons[f"{route}: HTTP {r.status_code} {r.text[:80]}"] += 1
            raise Failed
        if counted:
            tally.latencies.append(elapsed)
            tally.in_api.append(server_time(r.headers.get("Server-Timing", "")))
            self.record.timeline.append((started, elapsed))
        if r.status_code == 304:
            tally.not_modified += counted
            return cached[1]  # type: ignore[index]
        data = r.json()
        if etag := r.headers.get("ETag"):
            self.record.etags += counted
            self.cache[key] = (etag, data)
        return data

    # The pages, as dashboards/web/static/*.js load them.

    async def overview(self, n: int) -> None:
        units, _down, _incidents = await _all(
            self.get("GET /api/v1/units", "/api/v1/units", {"unit_set": VIEW}),
            self.get(
                "GET /api/v1/cameras?state=down", "/api/v1/cameras", {"unit_set": VIEW, "state": "down", "limit": 15}
            ),
            self.get(
                "GET /api/v1/incidents?status=open&limit=15", "/api/v1/incidents", {"status": "open", "limit": 15}
            ),
        )
        self.units_seen = [u["unit_code"] for u in units["items"]]
        if self.me.get("units") is None and (self.mau is None or n % SLOW_EVERY == 0):
            self.mau = await self.get("GET /api/v1/engagement", "/api/v1/engagement", {"unit_set": VIEW})

    def unit_page(self, code: str):
        async def refresh(n: int) -> None:
            await _all(
                self.get("GET /api/v1/units", "/api/v1/units", {"unit_set": VIEW}),
                self.get(
                    "GET /api/v1/cameras?unit", "/api/v1/cameras", {"unit_set": VIEW, "unit": code, "limit": 10000}
                ),
                self.get("GET /api/v1/devices?unit", "/api/v1/devices", {"unit_set": VIEW, "unit": code}),
            )
            if n % SLOW_EVERY == 0:
                series = {"unit_set": VIEW, "unit": code, "window": "24h"}

                async def engagement() -> None:
                    await self.get("GET /api/v1/engagement", "/api/v1/engagement", {"unit_set": VIEW})
                    await self.get(
                        "GET /api/v1/engagement/daily", "/api/v1/engagement/daily", {"unit_set": VIEW, "unit": code}
                    )

                await _all(self.get("GET /api/v1/uptime/series", "/api/v1/uptime/series", series), engagement())

        return refresh

    async def incidents(self, _n: int) -> None:
        await self.get(
            "GET /api/v1/incidents?status=open&limit=200", "/api/v1/incidents", {"status": "open", "limit": 200}
        )

    def next_page(self, on_overview: bool):
        """Back to the overview, or from it (after an exponential stay) to a unit page or the incidents."""
        if not on_overview:
            return self.overview, self.rng.expovariate(1 / OVERVIEW_MEAN_S), True
        if self.rng.random() < UNIT_SHARE:
            mine = self.operator.units or self.units_seen
            if mine:
                return self.unit_page(self.rng.choice(mine)), self.rng.uniform(*UNIT_STAY_S), False
        return self.incidents, self.rng.uniform(*INCIDENTS_STAY_S), False

    async def run(self, start_at: float, until: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        listener = asyncio.create_task(self.listen(until)) if self.push else None
        page, stay, on_overview = self.overview, self.rng.expovariate(1 / OVERVIEW_MEAN_S), True
        try:
            while time.monotonic() < until:
                leave = min(until, time.monotonic() + stay)
                n = 0
                while time.monotonic() < leave:
                    wait = REFRESH_S
                    self.poked.clear()
                    try:
                        await page(n)
                    except Busy as busy:
                        wait = max(REFRESH_S, busy.retry_after_s)
                    except Failed:
                        pass
                    n += 1
                    await self.pause(wait, leave)
                page, stay, on_overview = self.next_page(on_overview)
        finally:
            if listener is not None:
                listener.cancel()
            await self.http.aclose()

    async def pause(self, wait: float, leave: float) -> None:
        """Until the next refresh: REFRESH_S (or a 503's Retry-After); with push, an event (not sooner than
        PUSH_MIN_GAP_S) or the fallback poll."""
        if self.push and self.record.push_available is not False:
            wait = max(wait, PUSH_FALLBACK_S)
            await asyncio.sleep(PUSH_MIN_GAP_S)
            remaining = min(wait - PUSH_MIN_GAP_S, leave - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poked.wait(), timeout=max(0.0, remaining))
            return
        await asyncio.sleep(max(0.0, min(wait, leave - time.monotonic())))

    async def listen(self, until: float) -> None:
        """The live stream: count its events and poke the page; reconnect after PUSH_RETRY_S (or its `retry:`)."""
        retry = PUSH_RETRY_S
        timeout = httpx.Timeout(TIMEOUT_S, read=None)
        while time.monotonic() < until:
            try:
                async with self.http.stream(
                    "GET",
                    "/api/v1/live/events",
                    params={"unit_set": VIEW},
                    headers={"Accept": "text/event-stream"},
                    timeout=timeout,
                ) as r:
                    if r.status_code == 404:
                        self.record.push_available = False
                        return
                    if r.status_code != 200:
                        self.record.push_errors[f"HTTP {r.status_code}"] += 1
                    else:
                        self.record.push_available = True
                        kind = None  # an event's `event:` ("message" when it has data only); none until a field
                        async for line in r.aiter_lines():
                            if line == "":
                                if kind is not None:
                                    self.record.pushed_all[kind] += 1
                                    self.record.pushed[kind] += self.record.inside(time.monotonic())
                                    self.poked.set()
                                kind = None
                            elif line.startswith("retry:"):
                                retry = int(line[6:].strip() or 3000) / 1000
                            elif line.startswith("event:"):
                                kind = line[6:].strip()
                            elif not line.startswith(":"):
                                kind = kind or "message"
                    self.record.push_errors["stream ended"] += 1
            except httpx.HTTPError as exc:
                self.record.push_errors[type(exc).__name__] += 1
            await asyncio.sleep(retry)


async def _all(*aws) -> list:
    """Promise.all as the pages use it: every request runs to its end; the first failure is raised after."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


async def push_available(session: Session) -> bool:
    """One look at the live stream before the sessions start: its status line only."""
    try:
        async with session.http.stream("GET", "/api/v1/live/events", params={"unit_set": VIEW}, timeout=TIMEOUT_S) as r:
            return r.status_code == 200
    except httpx.HTTPError:
        return False


# --- the run -----------------------------------------------------------------------------------------------------


async def probes(api: str, until: float, record: Record, reference: str) -> dict:
    """Once a second each, from the reference xã operator's own session: `/me` (the limit: auth and HTTP) and its
    `/units` (the xã's view, compared across fleet sizes)."""
    me: list[float] = []
    units: list[float] = []
    failed: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=api, timeout=TIMEOUT_S) as http:
        r = await http.post("/api/v1/session", json={"username": f"xa-{reference}", "password": PASSWORD})
        r.raise_for_status()
        next_at = record.window[0]
        while next_at < until:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            for samples, path, params in ((me, "/api/v1/me", {}), (units, "/api/v1/units", {"unit_set": VIEW})):
                asked = time.monotonic()
                try:
                    status: int | str = (await http.get(path, params=params)).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                if status == 200:
                    samples.append(time.monotonic() - asked)
                else:
                    failed[f"{path}: {status}"] += 1
            next_at = max(next_at + PROBE_EVERY_S, time.monotonic())
    return {"me": me, "units": units, "failed": dict(failed)}


async def loop_lag(record: Record) -> list[float]:
    """How late a 100 ms sleep of this process wakes up: its own event loop's delay in every measured latency."""
    lags = []
    while time.monotonic() < record.window[1]:
        asked = time.monotonic()
        await asyncio.sleep(0.1)
        if record.inside(asked):
            lags.append(time.monotonic() - asked - 0.1)
    return lags


async def measure(
    args, api: str, comps: Components, load: dict, pool: dict, reference: str, browser: dict | None = None
) -> dict:
    cast = roster(pool, args.sessions)
    record = Record()
    rng = random.Random(28)
    sessions = [Session(api, op, record, random.Random(rng.random()), args.push) for op in cast]
    gate = asyncio.Semaphore(LOGINS_AT_ONCE)

    async def log_in(s: Session) -> None:
        async with gate:
            await s.log_in()

    await asyncio.gather(*(log_in(s) for s in sessions))
    if args.push:
        record.push_available = await push_available(sessions[0])
    await asyncio.sleep(max(0.0, load["started"] + LOAD_LEAD_S - time.monotonic()))
    comps.pulse("alerts")
    comps.wait_ok("alerts", f"http://127.0.0.1:{comps.extra_env['PULSE_ALERTS_METRICS_PORT']}/metrics")

    begin = time.monotonic()
    record.window = (begin + REFRESH_S + args.warmup_s, begin + REFRESH_S + args.warmup_s + args.duration)
    t0, t1 = record.window
    if browser is not None:
        browser["window"].put(record.window)
    runs = [asyncio.create_task(s.run(begin + rng.uniform(0, REFRESH_S), t1)) for s in sessions]
    side = asyncio.gather(probes(api, t1, record, reference), loop_lag(record))

    api_pid = comps.procs["api"].pid
    pids = {name: [p.pid] for name, p in comps.procs.items()}
    pids["province load generator"] = [load["process"].pid]
    pids["kafka"], pids["postgresql"] = kafka_pids(), postgres_pids()
    if args.nice_pipeline:  # the pipeline yields the CPU to the API and PostgreSQL, as cores of their own would
        for name, owned in pids.items():
            if name not in ("api", "postgresql"):
                for pid in [p for q in owned for p in (q, *children_of(q))]:
                    for thread in os.listdir(f"/proc/{pid}/task"):  # niceness is per thread on Linux
                        os.setpriority(os.PRIO_PROCESS, int(thread), args.nice_pipeline)
    await asyncio.sleep(max(0.0, t0 - time.monotonic()))
    processes = Processes(pids)
    api_before = total_cpu_seconds([api_pid, *children_of(api_pid)])
    mine_before, load_before = cpu_seconds(os.getpid()), list(load["counters"])
    while time.monotonic() < t1:
        await asyncio.sleep(min(10.0, max(0.0, t1 - time.monotonic())))
        processes.sample()
    api_after = total_cpu_seconds([api_pid, *children_of(api_pid)])
    mine_after, load_after = cpu_seconds(os.getpid()), list(load["counters"])
    wall = time.monotonic() - t0
    await asyncio.wait(runs, timeout=TIMEOUT_S + 5)  # the last refreshes (started before t1) answer
    sampled, lags = await side
    browser_figures = await asyncio.to_thread(browser_result, browser["results"]) if browser is not None else None
    crashed = Counter(repr(t.exception())[:120] for t in runs if t.done() and t.exception() is not None)

    routes = {}
    for route in sorted({r for r, _ in record.tallies}):
        tallies = {g: record.tallies[(route, g)] for g in GROUPS if (route, g) in record.tallies}
        routes[route] = {
            **_figures([x for t in tallies.values() for x in t.latencies]),
            "304": sum(t.not_modified for t in tallies.values()),
            "503": sum(t.busy for t in tallies.values()),
            "errors": sum(t.errors for t in tallies.values()),
            "by_operator": {g: _figures(t.latencies) for g, t in tallies.items()},
            "in_api": _figures([x for t in tallies.values() for x in t.in_api]),
        }
    answered = sum(r["n"] for r in routes.values())
    requests = answered + sum(r["503"] + r["errors"] for r in routes.values())
    probe_requests = len(sampled["me"]) + len(sampled["units"])
    api_cpu = api_after - api_before
    sent = [b - a for a, b in zip(load_before, load_after, strict=True)]
    return {
        "window_s": round(wall, 1),
        "sessions": {g: sum(1 for op in cast if op.group == g) for g in GROUPS},
        "operators_available": {g: len(pool[g]) for g in GROUPS},
        "requests": {
            "total": requests,
            "per_s": round(requests / wall, 1),
            "answered_200_or_304": answered,
            "not_modified_304": sum(r["304"] for r in routes.values()),
            "busy_503": sum(r["503"] for r in routes.values()),
            "errors": sum(r["errors"] for r in routes.values()),
            "error_reasons": dict(record.reasons.most_common(20)),
            "etags_received": record.etags,
            "sessions_unfinished": sum(1 for t in runs if not t.done()),
            "sessions_crashed": dict(crashed),
        },
        "routes": routes,
        "over_time": over_time(record.timeline, record.window[0]),
        "reference_xa_units": _figures(sampled["units"]),
        "limit_me": _figures(sampled["me"]),
        "probes_failed": sampled["failed"],
        "push": {
            "asked": args.push,
            "available": record.push_available,
            "events_in_window": dict(record.pushed),
            "events_whole_run": dict(record.pushed_all),
            "events_per_session_minute": round(record.pushed.total() / len(sessions) / (wall / 60), 2)
            if args.push
            else None,
            "stream_errors": dict(record.push_errors),
        },
        "api_cpu": {
            "cpu_s": round(api_cpu, 2),
            "cores": round(api_cpu / wall, 3),
            "requests_incl_probes": requests + probe_requests,
            "cpu_ms_per_request": round(api_cpu * 1000 / max(1, requests + probe_requests), 2),
        },
        "processes_cpu_cores": processes.summary(),
        "sessions_process": {
            "cpu_cores": round((mine_after - mine_before) / wall, 3),
            "loop_lag_ms": _figures(lags),
        },
        **({"browser": browser_figures} if browser is not None else {}),
        "province_load": {
            "heartbeats_per_s_sent": round(sent[0] / wall, 1),
            "heartbeats_per_s_acknowledged": round(sent[3] / wall, 1),
            "events_per_s_sent": round(sent[1] / wall, 1),
            "events_per_s_acknowledged": round(sent[4] / wall, 1),
            "requests_failed": int(sent[2]),
        },
    }


def browser_goals(browser: dict) -> dict:
    """Issue 28's browser goals: every overview load's tiles under 1 s, every camera down shown within 5 s."""
    return {
        "browser_tiles_under_1s": all(browser.get("every_load_under_1s", {"none": False}).values()),
        "browser_pushed_within_5s": bool(browser.get("pushed_all_within_5s")),
    }


def over_time(timeline: list[tuple[float, float]], start: float, every_s: float = 10.0) -> dict:
    """The answers' p95 and slowest per `every_s` of the window, by when they were asked: a tail spread evenly
    is queueing on a busy machine; one gathered in a few stretches is something that stalls everyone at once."""
    buckets: dict[int, list[float]] = defaultdict(list)
    for started, seconds in timeline:
        buckets[int((started - start) // every_s)].append(seconds)
    steps = [buckets.get(k, []) for k in range(max(buckets, default=-1) + 1)]
    return {
        "every_s": every_s,
        "p95_ms": [round(percentiles(b)["p95_ms"]) if b else None for b in steps],
        "max_ms": [round(max(b) * 1000) if b else None for b in steps],
    }


def _figures(samples: list[float]) -> dict:
    return percentiles(samples) if samples else {"n": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--duration", type=float, default=300, help="measured seconds")
    parser.add_argument("--warmup-s", type=float, default=30, help="sessions running before the window")
    parser.add_argument("--cameras", type=int, default=150_000)
    parser.add_argument(
        "--reference-cameras",
        type=int,
        default=None,
        help="the reference xã's cameras (default 900 from 15,000 cameras up, else off: 0)",
    )
    parser.add_argument(
        "--users", type=int, default=None, help="citizens (default 100,000; 20,000 up to 5,000 cameras, as make demo)"
    )
    parser.add_argument("--sessions-per-user-hour", type=float, default=1.0)
    parser.add_argument("--push", action="store_true", help="each session holds the live stream open")
    parser.add_argument("--reuse", action="store_true", help="the data seeded by an earlier run of this size")
    parser.add_argument(
        "--nice-pipeline",
        type=int,
        default=0,
        help="niceness (1–19) for every process but the API and PostgreSQL (ingest, alerts, collectors, the load"
        " generator, Kafka): what giving the API and the database cores of their own would do on one machine",
    )
    parser.add_argument(
        "--browser", action="store_true", help="the overview in Chromium too: tiles' time, a camera down pushed"
    )
    args = parser.parse_args()
    if args.reference_cameras is None:
        args.reference_cameras = 900 if args.cameras >= 15_000 else 0
    if args.users is None:
        args.users = 20_000 if args.cameras <= 5_000 else 100_000
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    if args.reference_cameras > args.cameras:
        parser.error("--reference-cameras must not exceed --cameras")

    base = load_settings()
    name = database_name(args.cameras)
    tmp = tempfile.mkdtemp(prefix="pulse-bench-sessions-")  # kept: the components' logs, named in the output
    if args.reuse:
        url = urlunsplit(urlsplit(base.database_url)._replace(path=f"/{name}"))
        settings = isolate(base.model_copy(update={"database_url": url}), Path(tmp))
        with connect(settings) as conn:
            migrate(conn, timezone=settings.timezone)  # migrations added since it was seeded
        data: dict = {"reused": name}
    else:
        settings = isolate(fresh_database(base, name), Path(tmp))
        data = {"seeded": name, **seed_now(settings, args.cameras, args.reference_cameras)}
    with connect(settings, autocommit=True) as conn:
        if not args.reuse:
            conn.execute("VACUUM ANALYZE")  # what autovacuum would have done on a live system
            conn.execute("CHECKPOINT")
        counts = {
            r["unit_code"]: r["n"] for r in conn.execute("SELECT unit_code, count(*) AS n FROM cameras GROUP BY 1")
        }
        if sum(counts.values()) != args.cameras:
            raise SystemExit(f"{name} holds {sum(counts.values())} cameras, not {args.cameras}: run without --reuse")
        data_now = conn.execute("SELECT max(last_ts) AS t FROM camera_status").fetchone()["t"]
        reference = min(counts)
        pool = operators(conn)
        chunks, tokens, silent = gateway_chunks(conn)
        app_key = accounts.create_app(conn, name=f"citizens (bench {uuid.uuid4().hex[:8]})")
        codes_2024 = [r["code"] for r in conn.execute("SELECT code FROM units WHERE unit_set = '2024' ORDER BY code")]
    data |= {
        "data_age_s_at_start": round((datetime.now(UTC) - data_now).total_seconds()),
        "cameras": sum(counts.values()),
        "cameras_per_unit_min_max": [min(counts.values()), max(counts.values())],
        "reference_unit": {"code": reference, "cameras": counts[reference]},
        "cameras_silent": silent,
    }

    collector_port = free_port()
    comps = Components(settings)
    comps.extra_env = {
        "PULSE_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "PULSE_APP_EVENTS_PORT": str(collector_port),
        "PULSE_ALERTS_METRICS_PORT": str(free_port()),
        "PULSE_APP_EVENTS_RATE_PER_MINUTE": "600",
    }
    ensure_topics(settings)
    ctx = multiprocessing.get_context("spawn")
    stop, results, counters = ctx.Event(), ctx.Queue(), ctx.Array("d", 5)
    child = browser = None
    try:
        for command in ("camera-gateway", "app-events", "ingest", "api"):
            comps.pulse(command)
        comps.wait_ok("camera-gateway", f"http://127.0.0.1:{settings.gateway_port}/readyz")
        comps.wait_ok("app-events", f"http://127.0.0.1:{collector_port}/readyz")
        comps.wait_ok("ingest", f"http://127.0.0.1:{settings.ingest_metrics_port}/metrics")
        comps.wait_ok("api", f"http://127.0.0.1:{settings.api_port}/readyz")
        conf = {
            "args": {
                "users": args.users,
                "sessions_per_user_hour": args.sessions_per_user_hour,
                "collector_port": collector_port,
            },
            "gateway_port": settings.gateway_port,
            "tokens": tokens,
            "chunks": chunks,
            "app_key": app_key,
            "codes": codes_2024,
        }
        child = ctx.Process(target=load_child, args=(conf, counters, stop, results), daemon=True)
        child.start()
        load = {"process": child, "counters": counters, "started": time.monotonic()}
        api = f"http://127.0.0.1:{settings.api_port}"
        if args.browser:
            watched = {
                "api": api,
                "gateway_url": f"http://127.0.0.1:{settings.gateway_port}/v1/heartbeats",
                "database_url": settings.database_url,
                "operators": {"province": pool["province"][0].username, "xa": f"xa-{reference}"},
                "tiles": {"province": len(pool["xa"]), "xa": 1},  # one xã operator a unit: every unit's tile
                "cameras": {"province": args.cameras, "xa": counts[reference]},
                "chunks": chunks,
                "tokens": tokens,
                "shots": tmp,
            }
            browser = start_browser(ctx, watched)
        result = uvloop.run(measure(args, api, comps, load, pool, reference, browser))
        stop.set()
        result["province_load"] |= results.get(timeout=30)
        child.join(timeout=30)
        alive = {n: p.poll() is None for n, p in comps.procs.items()}
        with connect(settings, autocommit=True) as conn:
            result["incidents"] = {
                r["kind"]: r["n"]
                for r in conn.execute("SELECT kind, count(*) AS n FROM incidents WHERE resolved_at IS NULL GROUP BY 1")
            }
    finally:
        stop.set()
        for proc in (child, browser["process"] if browser else None):
            if proc is not None and proc.is_alive():
                proc.terminate()
        comps.stop_all()
        asyncio.run(delete_topics(settings))

    limit_ms = 200 if args.cameras <= 5_000 else 300
    routes = result["routes"]
    print(
        json.dumps(
            {
                "bench": "dashboard_sessions",
                "machine": machine(),
                "parameters": {
                    "nice_pipeline": args.nice_pipeline,
                    "sessions": args.sessions,
                    "duration_s": args.duration,
                    "warmup_s": args.warmup_s,
                    "cameras": args.cameras,
                    "reference_cameras": args.reference_cameras,
                    "users": args.users,
                    "sessions_per_user_hour": args.sessions_per_user_hour,
                    "push": args.push,
                    "browser": args.browser,
                    "reuse": args.reuse,
                    "refresh_s": REFRESH_S,
                    "overview_mean_s": OVERVIEW_MEAN_S,
                    "heartbeats_per_s_target": round((args.cameras - silent) / 60, 1),
                },
                "data": data,
                **result,
                "components_alive": alive,
                "goals": {
                    "goal_run": args.sessions == 200 and args.duration >= 300 and args.cameras in (5_000, 150_000),
                    "zero_errors": result["requests"]["errors"] == 0,
                    f"p95_under_{limit_ms}ms_every_route": all(r.get("p95_ms", 0) < limit_ms for r in routes.values()),
                    "api_under_one_core": result["api_cpu"]["cores"] < 1,
                    "reference_xa_units_p95_ms": result["reference_xa_units"].get("p95_ms"),
                    **(browser_goals(result["browser"]) if args.browser else {}),
                },
                "logs": tmp,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
