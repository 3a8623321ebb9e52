"""The province's views with 150,000 cameras in the 166 units of set 2025 (issue 18): `/api/v1/units`, `/uptime`
for a month grouped by unit and by former district, the overview in Chromium, and the monthly briefing in each
format — each next to limits measured in the same run.

The data is seeded straight into the tables the readers use, with COPY (no Kafka, no writer, no rollup — the
day rollup's triggers do run, and its changes are folded once at the end: building
a month of 150,000 minute streams through them is out of reach here, and `/uptime` reads only what they leave):
- `cameras`: 150,000 registered in set 2025, spread over the 166 units in proportion to a fixed weight per unit
  (1 to 5, so a unit holds 300 to 1,700 cameras); one gateway per unit;
- `camera_intervals`: October 2026 up to "now" (31 October 21:00 in Hoằng Hóa), cut in six-hour slots; in each slot
  a camera has an incident with probability 0.31 (down 70 %, degraded 30 %, 5 to 180 minutes), up otherwise — about
  1.2 incidents, so 2.5 stored intervals, per camera per day (≈ 77 a month, ≈ 11.6 M rows): a flaky network;
- `camera_status`: each camera's last heartbeat — 30–90 s ago for most; 2 % silent for 1–12 h (down now); 1 %
  degraded now — and each gateway's watermark 20 s ago, so live state and the open tails are real reads.
Measured with the API served by uvicorn in this process on a fixed clock, over real HTTP:
- `/api/v1/units?unit_set=2025` (what the overview loads), `/uptime` for October per unit and per former district;
- limits: `GET /api/v1/me` (auth and HTTP, no work); the stored part of the month per unit alone over psycopg,
  before (every interval: `camera_state._UNIT_SECONDS`) and now (the day rollup, `uptime_days.key_seconds`), and
  the per-camera fetch that tails and live states need (`fleet.fleet`);
- the overview in Debian's Chromium (Playwright), desktop size: performance.now() when the first former-district
  group and when all 166 tiles with the KPIs are in the DOM (a MutationObserver records it), median of 5 reloads;
- the briefing for October in each format through `services.reports.issue.make`, as `pulse report monthly` does.
Goals (issue 18): overview < 1 s; `/uptime` month per unit p95 < 300 ms; each briefing < 30 s.
Usage: python -m bench.province_views [--cameras 150000] [--requests 30] [--loads 5] [--reuse]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np

from bench.common import fresh_database, machine, percentiles, timed_get
from bench.procs import isolate
from services.api.app import create_app
from services.core import accounts, camera_state, fleet, serve, uptime_days
from services.core.db import connect
from services.core.settings import load_settings
from services.core.units import list_units

DATABASE = "pulse_bench_province"
VIEW = "2025"
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC) - timedelta(hours=7)  # 1 October 2026 00:00 in Hoằng Hóa
MONTH_END = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=7)
NOW = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)  # 21:00 local: the month is all but over
SLOT_MIN = 360
INCIDENT_P = 0.31
PASSWORD = "Mat-khau-bench-2026"
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def camera_counts(codes: list[str], total: int) -> dict[str, int]:
    """`total` cameras over the units in proportion to a fixed weight 1–5 per unit (largest remainder)."""
    weights = [1 + (i * 7919) % 5 for i in range(len(codes))]
    shares = [total * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    for i in sorted(range(len(codes)), key=lambda i: shares[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return dict(zip(codes, counts, strict=True))


def seed(
    settings, cameras: int, *, now: datetime = NOW, start: datetime = MONTH_START, counts: dict[str, int] | None = None
) -> dict:
    """The data above, as of `now` with intervals from `start` (this benchmark's fixed clock unless given: a
    benchmark whose API runs on the wall clock seeds up to the real now); `counts` (cameras per unit code) instead
    of the weights when given."""
    started = time.perf_counter()
    rng = np.random.default_rng(20261031)
    with connect(settings, autocommit=True) as conn:
        codes = [u["code"] for u in list_units(conn, VIEW)]
        counts = camera_counts(codes, cameras) if counts is None else counts
        gateways = {}
        for code in codes:
            accounts.create_gateway(conn, name=f"gw-{code}", unit_set=VIEW, unit_codes=[code])
        for r in conn.execute("SELECT gateway_id, name FROM gateways"):
            gateways[r["name"][3:]] = r["gateway_id"]
        conn.execute("UPDATE gateways SET watermark = %s", (now - timedelta(seconds=20),))
        ids = [(f"P-{code}-{n:05d}", code) for code in codes for n in range(counts[code])]
        with conn.cursor().copy(
            "COPY cameras (camera_id, unit_set, unit_code, name, interval_s, gateway_id) FROM STDIN"
        ) as cp:
            for cid, code in ids:
                cp.write_row((cid, VIEW, code, f"Camera {cid[-5:]}", 60, gateways[code]))
        n = len(ids)
        # Last heartbeat (seconds before now) and its state: most beat within the last 90 s.
        ago = rng.integers(30, 91, n).astype(np.int64)
        silent = rng.random(n) < 0.02
        ago[silent] = rng.integers(3600, 12 * 3600, silent.sum())
        degraded_now = (~silent) & (rng.random(n) < 0.01)
        minutes = int((now - start).total_seconds() // 60)
        stamp = [(start + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S+00") for m in range(minutes + 1)]
        slots = minutes // SLOT_MIN
        has = rng.random((n, slots)) < INCIDENT_P
        offset = rng.integers(0, SLOT_MIN - 180, (n, slots))
        length = rng.integers(5, 181, (n, slots))
        down = rng.random((n, slots)) < 0.7
        status_rows = []
        intervals = 0
        with conn.cursor().copy("COPY camera_intervals (camera_id, start_ts, end_ts, state) FROM STDIN") as cp:
            lines: list[str] = []
            for i, (cid, _code) in enumerate(ids):
                last = now - timedelta(seconds=int(ago[i]))
                last_min = int((last - start).total_seconds() // 60)
                last_state = "degraded" if degraded_now[i] else "up"
                at = 0
                for s in np.flatnonzero(has[i]):
                    a = int(s) * SLOT_MIN + int(offset[i, s])
                    b = a + int(length[i, s])
                    if b >= last_min:
                        break
                    if a > at:
                        lines.append(f"{cid}\t{stamp[at]}\t{stamp[a]}\tup\n")
                    lines.append(f"{cid}\t{stamp[a]}\t{stamp[b]}\t{'down' if down[i, s] else 'degraded'}\n")
                    at = b
                if last_state == "degraded" and last_min - 30 > at:
                    lines.append(f"{cid}\t{stamp[at]}\t{stamp[last_min - 30]}\tup\n")
                    at = last_min - 30
                lines.append(f"{cid}\t{stamp[at]}\t{last.strftime('%Y-%m-%d %H:%M:%S+00')}\t{last_state}\n")
                status_rows.append((cid, start, last, "ok" if last_state == "up" else "degraded", last_state))
                if len(lines) > 200_000:
                    intervals += len(lines)
                    cp.write("".join(lines))
                    lines = []
            intervals += len(lines)
            cp.write("".join(lines))
        with conn.cursor().copy(
            "COPY camera_status (camera_id, first_ts, last_ts, last_status, last_state) FROM STDIN"
        ) as cp:
            for row in status_rows:
                cp.write_row(row)
        accounts.create_operator(conn, username="bench", role="admin", unit_set=VIEW, unit_codes=[], password=PASSWORD)
        folding = time.perf_counter()
        uptime_days.compact(conn)  # what the ingest rollup does as it goes
        return {
            "day_rollup_fold_s": round(time.perf_counter() - folding, 1),
            "cameras": n,
            "units": len(codes),
            "cameras_per_unit_min_max": [min(counts.values()), max(counts.values())],
            "state_intervals": intervals,
            "intervals_per_camera_day": round(intervals / n / (minutes / 1440), 2),
            "down_now_silent": int(silent.sum()),
            "degraded_now": int(degraded_now.sum()),
            "seed_s": round(time.perf_counter() - started, 1),
        }


class ApiThread:
    """The API on uvicorn in a thread of this process, its clock fixed at NOW."""

    def __init__(self, settings, port: int) -> None:
        self.server = serve.server(create_app(settings, clock=lambda: NOW), "127.0.0.1", port, "warning")
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> ApiThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start in 30 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


# Records when the first group and when all the tiles with the KPIs are in the DOM (ms since navigation start).
MARKS = """
window.__marks = {};
new MutationObserver(() => {
  const m = window.__marks;
  if (m.group === undefined && document.querySelector('details.group')) m.group = performance.now();
  if (m.tiles === undefined && document.querySelectorAll('.tile').length >= %d && document.querySelector('.kpi-value'))
    m.tiles = performance.now();
}).observe(document, {childList: true, subtree: true});
"""


def browser_loads(base: str, units: int, loads: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="vi-VN")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.add_init_script(MARKS % units)
        page.goto(f"{base}/")
        page.fill("#username", "bench")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".tile", timeout=60_000)
        page.select_option("#unit-set", VIEW)  # kept in localStorage: every reload opens the province
        expect(page.locator(".tile")).to_have_count(units, timeout=60_000)
        groups, tiles, kpi = [], [], ""
        for _ in range(loads):
            page.reload()
            page.wait_for_function("() => window.__marks.tiles !== undefined", timeout=60_000)
            marks = page.evaluate("() => window.__marks")
            groups.append(marks["group"])
            tiles.append(marks["tiles"])
            kpi = page.locator(".kpi-value").first.inner_text()
        browser.close()
    return {
        "loads": loads,
        "first_group_median_ms": round(statistics.median(groups)),
        "all_tiles_median_ms": round(statistics.median(tiles)),
        "all_tiles_max_ms": round(max(tiles)),
        "all_tiles_ms": [round(t) for t in tiles],
        "first_group_ms": [round(t) for t in groups],
        "kpi_cameras_shown": kpi,
        "console_errors": [e for e in errors if "401 (Unauthorized)" not in e],
    }


def briefings(settings) -> dict:
    """October's briefing of set 2025 in each format, as `pulse report monthly` makes it (figures + file)."""
    try:
        from services.reports import FORMATS, issue
    except Exception as exc:  # another change may be under way in services/reports
        return {"error": f"services.reports not importable: {exc!r}"}
    out: dict = {}
    with connect(settings, autocommit=True) as conn:
        for fmt in FORMATS:
            try:
                started = time.perf_counter()
                _report, data = issue.make(
                    conn, settings, month=date(2026, 10, 1), unit_set=VIEW, fmt=fmt, lang="vi", now=NOW
                )
                out[fmt] = {"total_s": round(time.perf_counter() - started, 3), "bytes": len(data)}
            except Exception as exc:
                out[fmt] = {"error": repr(exc)}
    return out


def sql_month_sums(settings, n: int) -> dict:
    """The stored part of a month per unit, alone over psycopg: before (every interval, the query `/uptime` still
    uses for a list of cameras) and now (the day rollup) — and the per-camera fetch both add to it."""
    params = {"view": VIEW, "ids": None, "a": MONTH_START, "b": MONTH_END}
    before, rollup, fetched = [], [], []
    with connect(settings, autocommit=True) as conn:
        for _ in range(min(n, 3)):  # ≈ 7 s each
            started = time.perf_counter()
            conn.execute(camera_state._UNIT_SECONDS, params, prepare=False).fetchall()
            before.append(time.perf_counter() - started)
        for _ in range(n):
            started = time.perf_counter()
            uptime_days.key_seconds(conn, MONTH_START, MONTH_END)
            rollup.append(time.perf_counter() - started)
            started = time.perf_counter()
            fleet.fleet(conn, view_set=VIEW)
            fetched.append(time.perf_counter() - started)
    return {
        "before_every_interval": percentiles(before),
        "day_rollup": percentiles(rollup),
        "fleet_arrays_150k_cameras": percentiles(fetched),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=150_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="measure the data seeded by an earlier run")
    args = parser.parse_args()
    base = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        if args.reuse:
            url = urlunsplit(urlsplit(base.database_url)._replace(path=f"/{DATABASE}"))
            settings = isolate(base.model_copy(update={"database_url": url}), Path(tmp))
            built: dict = {"reused": True}
        else:
            settings = isolate(fresh_database(base, DATABASE), Path(tmp))
            built = seed(settings, args.cameras)
        with connect(settings, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")  # what autovacuum would have done on a live system
            conn.execute("CHECKPOINT")
            token = accounts.create_api_token(conn, username="bench")
        results: dict = {"sql_month_sum_per_unit": sql_month_sums(settings, args.requests)}
        with ApiThread(settings, settings.api_port) as _api:
            api_base = f"http://127.0.0.1:{settings.api_port}"
            month = {"from": MONTH_START.isoformat(), "to": MONTH_END.isoformat(), "unit_set": VIEW}
            with httpx.Client(base_url=api_base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
                units = client.get("/api/v1/units", params={"unit_set": VIEW}).json()  # warms pool and caches
                client.get("/api/v1/uptime", params=month)
                results["limit_me_endpoint"] = timed_get(client, "/api/v1/me", {}, args.requests)
                results["units_2025"] = timed_get(client, "/api/v1/units", {"unit_set": VIEW}, args.requests)
                results["uptime_month_per_unit"] = timed_get(client, "/api/v1/uptime", month, args.requests)
                results["uptime_month_per_district"] = timed_get(
                    client, "/api/v1/uptime", {**month, "group_by": "district"}, args.requests
                )
                results["uptime_month_province"] = timed_get(
                    client, "/api/v1/uptime", {**month, "group_by": "province"}, args.requests
                )
            results["api_summary"] = units["summary"]
            results["overview_chromium_desktop"] = browser_loads(api_base, len(units["items"]), args.loads)
        results["briefing_2026_10"] = briefings(settings)
    made = results["briefing_2026_10"]
    briefing_ok = "error" not in made and all("total_s" in v and v["total_s"] < 30 for v in made.values())
    print(
        json.dumps(
            {
                "benchmark": "province_views",
                "machine": machine(),
                "now": NOW.isoformat(),
                "month": "2026-10 (Asia/Ho_Chi_Minh)",
                "data": built,
                **results,
                "goals": {
                    "overview_under_1s": results["overview_chromium_desktop"]["all_tiles_median_ms"] < 1000,
                    "uptime_month_per_unit_p95_under_300ms": results["uptime_month_per_unit"]["p95_ms"] < 300,
                    "briefing_each_format_under_30s": briefing_ok,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
