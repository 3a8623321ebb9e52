"""The monthly briefing for a month with 5,000 cameras and 100,000 app subjects: seconds to read the figures and
to write each format, next to limits measured in the same run.

The month (October 2026) is built in its own database through the product's writers: 5,000 cameras beating
hourly with trouble (`bench/uptime_query.build_month`) and 1,000,000 app events of 100,000 subjects
(`bench/app_events_ingest.messages`, written by the event writer). Then, read on 5 November 2026:
- `gather`: every figure (both months' uptime per unit, engagement per unit and district, incidents, 12 months
  of MAU) — next to the two SQL reads it cannot avoid: `unit_uptime` over the month and `month_figures`;
- each format rendered from those figures — next to the same format for a report with no units (the
  renderer's fixed cost: fonts, charts' set-up, file structure).
Goal (issue 8): generating a report (figures + file) in under 10 s.
Usage: python -m bench.report_generation [--cameras 5000] [--subjects 100000] [--events 1000000] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic_core import to_json

from bench.app_events_ingest import messages
from bench.common import fresh_database, machine
from bench.procs import isolate
from bench.uptime_query import MONTH_START, build_month
from services.core import camera_state, engagement
from services.core.db import connect
from services.core.settings import load_settings
from services.core.units import list_units
from services.ingest.app_events import process_message
from services.ingest.event_writer import write_events
from services.reports import FORMATS, render
from services.reports.gather import gather

DATABASE = "pulse_bench_report"


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Best of `repeat` (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=5000)
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="measure the month built by an earlier run")
    args = parser.parse_args()
    base = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        built: dict = {"reused": True}
        if args.reuse:
            url = urlunsplit(urlsplit(base.database_url)._replace(path=f"/{DATABASE}"))
            settings = isolate(base.model_copy(update={"database_url": url}), Path(tmp))
        else:
            settings = isolate(fresh_database(base, DATABASE), Path(tmp))
            built = build_month(settings, args.cameras)
            started = time.perf_counter()
            with connect(settings, autocommit=True) as conn:
                codes = [u["code"] for u in list_units(conn, "2024")]
                rows = [
                    r
                    for m in messages(args.subjects, args.events, codes)
                    for r in process_message(to_json(m), tz=settings.tz)
                ]
                for i in range(0, len(rows), 20_000):
                    write_events(conn, rows[i : i + 20_000])
            built["app_events"] = len(rows)
            built["events_build_s"] = round(time.perf_counter() - started, 1)
        now = datetime(2026, 11, 5, 9, 0, tzinfo=settings.tz)
        month = MONTH_START.astimezone(settings.tz).date()
        with connect(settings, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
            uptime_s, _ = timed(
                lambda: camera_state.unit_uptime(
                    conn, MONTH_START, now, view_set="2024", camera_ids=None, tz=settings.tz
                )
            )
            engagement_s, _ = timed(lambda: engagement.month_figures(conn, "2024", month, now.date()))
            gather_s, report = timed(lambda: gather(conn, settings, month=month, unit_set="2024", now=now))
            subjects = report.summary.mau  # type: ignore[union-attr]
        empty = replace(report, units=[])  # type: ignore[type-var]
        formats = {}
        for fmt in FORMATS:
            render_s, data = timed(lambda fmt=fmt: render(report, fmt, "vi"))  # type: ignore[arg-type]
            fixed_s, _ = timed(lambda fmt=fmt: render(empty, fmt, "vi"))
            formats[fmt] = {
                "render_s": round(render_s, 3),
                "total_s": round(gather_s + render_s, 3),
                "limit_empty_report_s": round(fixed_s, 3),
                "bytes": len(data),  # type: ignore[arg-type]
            }
        result = {
            "benchmark": "report_generation",
            "machine": machine(),
            "built": built,
            "month": f"{month:%Y-%m}",
            "cameras": report.summary.cameras,  # type: ignore[union-attr]
            "mau": subjects,
            "gather_s": round(gather_s, 3),
            "limit_sql_unit_uptime_s": round(uptime_s, 3),
            "limit_sql_month_figures_s": round(engagement_s, 3),
            "formats": formats,
            "goal_total_s": 10,
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
