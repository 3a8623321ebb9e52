"""`/uptime/series` (the unit page's chart) reads its cameras from the live model once for all buckets (issue 28);
each bucket must still hold exactly the figures `/uptime` gives over the same window, which reads the cameras
itself: for the whole view, for one unit, and for a commune operator. Stored intervals, an open tail, a camera
installed mid-day and one never heard from."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts
from services.core.settings import Settings

pytestmark = pytest.mark.db
NOW = datetime(2024, 3, 31, 16, 0, tzinfo=UTC)
KEYS = ("up_s", "degraded_s", "down_s", "unknown_s", "maintenance_s")


def seed(conn: psycopg.Connection) -> None:
    gateway = conn.execute(
        "INSERT INTO gateways (name, token_hash, watermark) VALUES ('gw', 'x', %s) RETURNING gateway_id",
        (NOW - timedelta(seconds=30),),
    ).fetchone()["gateway_id"]
    cameras = [
        ("a", "15865", None),
        ("b", "15865", NOW - timedelta(hours=5)),
        ("c", "15871", None),
        ("d", "15871", None),
    ]
    for camera_id, unit, installed in cameras:
        conn.execute(
            "INSERT INTO cameras (camera_id, unit_set, unit_code, name, interval_s, gateway_id, installed_at)"
            " VALUES (%s, '2024', %s, %s, 60, %s, %s)",
            (camera_id, unit, camera_id, gateway, installed),
        )
    for camera_id, start_h, end_h, state in [
        ("a", 30, 10, "up"),
        ("a", 10, 9, "down"),
        ("a", 9, 0.5, "up"),
        ("b", 7, 2, "degraded"),
        ("c", 20, 3, "up"),
    ]:
        conn.execute(
            "INSERT INTO camera_intervals (camera_id, start_ts, end_ts, state) VALUES (%s, %s, %s, %s)",
            (camera_id, NOW - timedelta(hours=start_h), NOW - timedelta(hours=end_h), state),
        )
    for camera_id, last_h, state in [("a", 0.5, "up"), ("b", 2, "degraded"), ("c", 3, "up")]:  # d: never heard
        ts = NOW - timedelta(hours=last_h)
        conn.execute(
            "INSERT INTO camera_status (camera_id, first_ts, last_ts, last_status, last_state)"
            " VALUES (%s, %s, %s, 'ok', %s)",
            (camera_id, ts, ts, state),
        )


def summed(items: list[dict]) -> dict:
    return {k: sum(i[k] for i in items) for k in KEYS}


@pytest.mark.parametrize("who, unit", [("admin", None), ("admin", "15871"), ("commune", None), ("commune", "15865")])
def test_each_bucket_equals_uptime_over_its_window(settings: Settings, conn: psycopg.Connection, who, unit) -> None:
    seed(conn)
    accounts.create_operator(
        conn, username=who, role=who, unit_set="2024", unit_codes=["15865"] if who == "commune" else [], password=None
    )
    headers = {"Authorization": f"Bearer {accounts.create_api_token(conn, username=who)}"}
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        params = {"window": "24h", "unit_set": "2024"} | ({"unit": unit} if unit else {})
        series = client.get("/api/v1/uptime/series", params=params, headers=headers)
        assert series.status_code == 200, series.text
        for bucket in series.json()["items"]:
            if bucket["from"] == bucket["to"]:  # now on the hour: the current hour is empty
                assert not any(bucket[k] for k in KEYS)
                continue
            window = {"from": bucket["from"], "to": bucket["to"], "unit_set": "2024"}
            answer = client.get("/api/v1/uptime", params=window, headers=headers)
            assert answer.status_code == 200, answer.text
            items = answer.json()["items"]
            if unit is not None:
                items = [i for i in items if i["unit_code"] == unit]
            assert {k: bucket[k] for k in KEYS} == pytest.approx(summed(items), abs=1e-6), bucket["from"]
        assert any(b["down_s"] for b in series.json()["items"])  # every case holds a camera down in the day
