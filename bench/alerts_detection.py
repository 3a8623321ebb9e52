"""Alerts at province scale: how long after a camera's deadline its incident is recorded, and what `pulse alerts`
costs, with 150,000 cameras beating every 60 s.

The fleet lives in its own database (`pulse_bench_alerts`): `--cameras` cameras over the 37 communes, one gateway
per commune. The heartbeats' effect on the database is played directly, as ingest would leave it: every second
this process moves `camera_status.last_ts` to now for the sixtieth of the fleet whose turn it is (so each camera
beats once a minute, 2,500 rows a second at 150,000) and moves every gateway's watermark. After a warm-up it stops
the beats of `--victims` cameras spread over the communes (too few per commune for an outage); each one's
deadline is its last beat + I + G (120 s). The figure is, per victim, the time its `camera_down` incident was
first seen in the database (polled every 50 ms) minus its deadline. `pulse alerts` runs as a subprocess with
`PULSE_ALERT_TICK_S=1`; its CPU is read from /proc. Goal (issue 6): p99 < 5 s.
Usage: python -m bench.alerts_detection [--cameras 150000] [--victims 60]
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

from bench.common import fresh_database, machine, percentiles
from bench.procs import Components, cpu_seconds, free_port, isolate
from services.core import accounts
from services.core.db import DbConn, connect
from services.core.settings import load_settings
from services.core.units import list_units

INTERVAL_S = 60


def build(conn: DbConn, cameras: int) -> list[str]:
    codes = [u["code"] for u in list_units(conn, "2024")]
    for code in codes:
        accounts.create_gateway(conn, name=f"gw-{code}", unit_set="2024", unit_codes=[code])
    now = datetime.now(UTC)
    conn.execute(
        """
        INSERT INTO cameras (camera_id, unit_set, unit_code, interval_s, gateway_id)
        SELECT format('cam-%%s', lpad(g::text, 6, '0')), '2024', u.code, %(i)s, gw.gateway_id
        FROM generate_series(0, %(n)s - 1) g
        JOIN LATERAL (SELECT (%(codes)s::text[])[1 + g %% %(k)s] AS code) u ON true
        JOIN gateways gw ON gw.name = 'gw-' || u.code
        """,
        {"n": cameras, "codes": codes, "k": len(codes), "i": INTERVAL_S},
    )
    conn.execute(
        """
        INSERT INTO camera_status (camera_id, first_ts, last_ts, last_status, last_state)
        SELECT camera_id, %(now)s - interval '1 hour',
               %(now)s - make_interval(secs => (substr(camera_id, 5)::int %% 60)), 'ok', 'up'
        FROM cameras
        """,
        {"now": now},
    )
    conn.execute("UPDATE gateways SET watermark = %s", (now,))
    conn.execute("VACUUM ANALYZE")
    return codes


def beat(conn: DbConn, now: datetime, slots: list[int], victims: list[str]) -> None:
    """These seconds' sixtieths of the fleet beat (as ingest leaves it); the victims do not."""
    conn.execute(
        """
        UPDATE camera_status SET last_ts = %(now)s
        WHERE substr(camera_id, 5)::int %% 60 = ANY(%(slots)s) AND camera_id <> ALL(%(victims)s)
        """,
        {"now": now, "slots": slots, "victims": victims},
    )
    conn.execute("UPDATE gateways SET watermark = %s", (now,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=150_000)
    parser.add_argument("--victims", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=30, help="seconds of beating before victims stop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = isolate(fresh_database(load_settings(), "pulse_bench_alerts"), Path(tmp))
        with connect(settings, autocommit=True) as conn:
            build(conn, args.cameras)
            components = Components(settings)
            metrics_port = free_port()
            components.extra_env = {"PULSE_ALERT_TICK_S": "1", "PULSE_ALERTS_METRICS_PORT": str(metrics_port)}
            proc = components.pulse("alerts")
            try:
                components.wait_ok("alerts", f"http://127.0.0.1:{metrics_port}/metrics")
                rng = random.Random(6)
                victims: list[str] = []
                chosen = sorted(rng.sample(range(args.cameras), args.victims))
                started = time.monotonic()
                deadline_of: dict[str, datetime] = {}
                seen_at: dict[str, datetime] = {}
                cpu_start = cpu_seconds(proc.pid)
                last_beat = int(datetime.now(UTC).timestamp()) - 1
                while True:
                    now = datetime.now(UTC)
                    second = int(now.timestamp())
                    if second > last_beat:  # every second's slot beats, also the ones a slow loop skipped
                        slots = [s % 60 for s in range(max(last_beat + 1, second - 59), second + 1)]
                        beat(conn, now, slots, victims)
                        last_beat = second
                    if not victims and time.monotonic() - started > args.warmup:
                        victims = [f"cam-{i:06d}" for i in chosen]
                        rows = conn.execute(
                            "SELECT camera_id, last_ts FROM camera_status WHERE camera_id = ANY(%s)", (victims,)
                        ).fetchall()
                        deadline_of = {r["camera_id"]: r["last_ts"] + timedelta(seconds=2 * INTERVAL_S) for r in rows}
                    if victims:
                        for r in conn.execute(
                            "SELECT camera_ids[1] AS camera_id FROM incidents WHERE kind = 'camera_down'"
                        ).fetchall():
                            seen_at.setdefault(r["camera_id"], now)
                        if (
                            len(seen_at) >= len(victims)
                            or time.monotonic() - started > args.warmup + 3 * INTERVAL_S + 60
                        ):
                            break
                    time.sleep(0.05)
                elapsed = time.monotonic() - started
                cpu = cpu_seconds(proc.pid) - cpu_start
                false_alarms = sorted(set(seen_at) - set(victims))
            finally:
                components.stop_all()
    delays = [(seen_at[c] - deadline_of[c]).total_seconds() for c in victims if c in seen_at]
    stats = percentiles(delays) if delays else {}
    print(
        json.dumps(
            {
                "bench": "alerts_detection",
                "machine": machine(),
                "cameras": args.cameras,
                "units": 37,
                "interval_s": INTERVAL_S,
                "victims": len(victims),
                "detected": len(delays),
                "false_alarms": len(false_alarms),
                "deadline_to_incident_s": {
                    k.replace("_ms", "_s"): round(v / 1000, 2) for k, v in stats.items() if k != "n"
                },
                "alerts_cpu_cores": round(cpu / elapsed, 2),
                "goal": {"p99_s": 5, "met": bool(stats) and stats["p99_ms"] < 5000 and len(delays) == len(victims)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
