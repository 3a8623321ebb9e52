"""The Grafana dashboards (`dashboards/grafana/`, provisioned by docker-compose): they parse, every panel names a
provisioned data source, every SQL query runs against the real schema (Grafana's time macros expanded as Grafana
would), and every Prometheus query asks for metrics the code exports."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from services.core.migrate import GRAFANA_LOGIN, ensure_grafana_login

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
SOURCES = ("services", "camera_gateway", "app_events")


def _targets(kind: str) -> list[tuple[str, str, dict]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel["targets"]:
                if target["datasource"]["uid"] == kind:
                    found.append((path.name, panel["title"], target))
    return found


def expand_macros(sql: str, start: datetime, end: datetime) -> str:
    """Grafana's PostgreSQL macros used in our panels, as Grafana expands them for a time range."""
    a, b = f"'{start.isoformat()}'::timestamptz", f"'{end.isoformat()}'::timestamptz"
    sql = re.sub(r"\$__timeFilter\((\w+(?:\.\w+)?)\)", rf"\1 BETWEEN {a} AND {b}", sql)
    sql = sql.replace("$__timeFrom()", a).replace("$__timeTo()", b)
    assert "$__" not in sql, f"a Grafana macro this test does not know: {sql}"
    return sql


def test_dashboards_parse_and_name_provisioned_data_sources() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "pulse.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}
    assert len(DASHBOARDS) >= 2
    seen_uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["uid"] not in seen_uids and board["title"] and board["panels"]
        seen_uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in uids, (path.name, panel["title"])
            assert panel["targets"], (path.name, panel["title"])
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./dashboards/grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts


@pytest.mark.db
def test_every_sql_query_runs_against_the_real_schema_as_grafanas_login(settings, conn: psycopg.Connection) -> None:
    # One commune with a camera silent for an hour and a closed 'down' interval, so the queries have rows to find.
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO cameras (camera_id, unit_set, unit_code, name, interval_s)"
        " VALUES ('g-1', '2024', '15865', 'g', 60)"
    )
    conn.execute(
        "INSERT INTO camera_status (camera_id, first_ts, last_ts, last_status, last_state)"
        " VALUES ('g-1', %s, %s, 'ok', 'up')",
        (now - timedelta(hours=3), now - timedelta(hours=1)),
    )
    conn.execute(
        "INSERT INTO camera_intervals (camera_id, start_ts, end_ts, state) VALUES ('g-1', %s, %s, 'down')",
        (now - timedelta(hours=3), now - timedelta(hours=2)),
    )
    queries = _targets("timescaledb")
    assert len(queries) >= 5
    results = {}
    with grafana_connection(settings, conn) as grafana:  # as Grafana reads: its own login, figures only
        for board, title, target in queries:
            sql = expand_macros(target["rawSql"], now - timedelta(hours=24), now)
            try:
                results[title] = grafana.execute(sql).fetchall()  # type: ignore[arg-type]
            except psycopg.Error as exc:
                pytest.fail(f"{board} / {title}: {exc}")
    assert results["Camera im lặng quá I+G theo xã"] == [{"Xã": "Bút Sơn", "Camera": 1}]
    down = results["Thời gian mất kết nối theo xã trong khoảng xem (giờ)"]
    assert [(r["Xã"], round(float(r["giờ"]), 6)) for r in down] == [("Bút Sơn", 1.0)]


GRAFANA_PASSWORD = "grafana-test-password"


@contextlib.contextmanager
def grafana_connection(settings, conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A connection as `pulse_grafana`, made as `pulse migrate` makes it (PULSE_GRAFANA_DB_PASSWORD)."""
    ensure_grafana_login(conn, GRAFANA_PASSWORD)
    parts = urlsplit(settings.database_url)
    url = urlunsplit(parts._replace(netloc=f"{GRAFANA_LOGIN}:{GRAFANA_PASSWORD}@{parts.hostname}:{parts.port}"))
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as grafana:
        yield grafana


@pytest.mark.db
def test_grafanas_login_cannot_read_people_tokens_or_secrets(settings, conn: psycopg.Connection) -> None:
    closed = [
        "SELECT * FROM operators",
        "SELECT * FROM sessions",
        "SELECT * FROM api_tokens",
        "SELECT * FROM apps",
        "SELECT * FROM gateways",
        "SELECT * FROM devices",
        "SELECT * FROM channels",
        "SELECT * FROM notifications",
        "SELECT * FROM audit_log",
        "SELECT * FROM login_failures",
        "SELECT * FROM app_events",
        "SELECT * FROM app_subjects",
        "SELECT * FROM camera_snapshots",
        "SELECT * FROM reports",
        "SELECT stream_url_enc FROM cameras",
        "SELECT address FROM cameras",
        "SELECT * FROM cameras",
        "SELECT acknowledged_by, ack_note FROM incidents",
        "INSERT INTO units (unit_set, code, name) VALUES ('2024', 'x', 'x')",
        "UPDATE camera_status SET last_state = 'up'",
    ]
    with grafana_connection(settings, conn) as grafana:
        for statement in closed:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                grafana.execute(statement)  # type: ignore[arg-type]
        # What it may read, it reads.
        assert grafana.execute("SELECT count(*) AS n FROM units").fetchone()["n"] > 0
        grafana.execute("SELECT camera_id, name, lat, lon FROM cameras").fetchall()
        grafana.execute("SELECT incident_id, kind, status, opened_at FROM incidents").fetchall()


def test_every_prometheus_query_names_a_metric_the_code_exports() -> None:
    code = "\n".join(p.read_text() for d in SOURCES for p in (ROOT / d).rglob("*.py"))
    exported = set(re.findall(r"(?:Counter|Gauge|Histogram|Summary)\(\s*\"(pulse_[a-z_]+)\"", code))
    queries = _targets("prometheus")
    assert len(queries) >= 8
    for board, title, target in queries:
        for name in re.findall(r"pulse_[a-z_]+", target["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert base in exported, f"{board} / {title}: {name} is not exported by the code"
