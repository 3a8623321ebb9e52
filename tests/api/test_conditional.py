"""Conditional GET on the dashboard's reads (issue 28): each answers with an `ETag`; asked again with it in
`If-None-Match` it answers `304 Not Modified` with no body while nothing it says changed (the time of asking
aside), and `200` with a new tag once something did."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.api.app import create_app
from services.core import accounts, devices
from services.core.settings import Settings
from services.ingest.app_events import EventRow
from services.ingest.event_writer import write_events

pytestmark = pytest.mark.db
NOW = datetime(2024, 3, 31, 16, 0, tzinfo=UTC)

READS = [
    ("/api/v1/units", {"unit_set": "2024"}),
    ("/api/v1/cameras", {"unit_set": "2024", "state": "down", "limit": 15}),
    ("/api/v1/cameras", {"unit_set": "2024", "unit": "15865"}),
    ("/api/v1/incidents", {"status": "open", "limit": 15}),
    ("/api/v1/devices", {"unit_set": "2024", "unit": "15865"}),
    ("/api/v1/engagement", {"unit_set": "2024"}),
    ("/api/v1/engagement/daily", {"unit_set": "2024", "unit": "15865"}),
    ("/api/v1/uptime/series", {"unit_set": "2024", "unit": "15865", "window": "7d"}),
]


def change(conn: psycopg.Connection, settings: Settings, path: str) -> None:
    """Something the read at `path` says, changed."""
    if path in ("/api/v1/units", "/api/v1/cameras", "/api/v1/uptime/series"):  # camera a goes down, for 10 hours
        conn.execute("UPDATE camera_status SET last_state = 'down', changed_xid = pg_current_xact_id()")
        conn.execute(
            "INSERT INTO camera_intervals (camera_id, start_ts, end_ts, state) VALUES ('a', %s, %s, 'down')",
            (NOW - timedelta(hours=10), NOW - timedelta(minutes=1)),
        )
    elif path == "/api/v1/incidents":
        conn.execute(
            "INSERT INTO incidents (kind, status, unit_set, unit_code, camera_ids, opened_at)"
            " VALUES ('camera_down', 'open', '2024', '15865', '{a}', %s)",
            (NOW,),
        )
    elif path == "/api/v1/devices":
        keyed = settings.model_copy(update={"device_key": SecretStr("test-device-key-0123456789abcdefghijklmnop")})
        devices.add_device(
            conn, keyed, kind="hikvision", name="nvr", unit_set="2024", unit_code="15865",
            url="http://192.0.2.1", username="admin", secret="s3cret",
        )  # fmt: skip
    else:  # engagement: a citizen opens the app in 15865
        at = NOW - timedelta(hours=1)
        write_events(conn, [EventRow(
            at, uuid.uuid4(), "app_open", "citizen-1", "2024", "15865", None, None, "android", "2.3.1", b"{}", at,
            False, at.astimezone(settings.tz).date(),
        )])  # fmt: skip


@pytest.mark.parametrize("path, params", READS, ids=[f"{p}?{'&'.join(q)}" for p, q in READS])
def test_an_unchanged_answer_is_not_sent_again(settings: Settings, conn: psycopg.Connection, path, params) -> None:
    gateway = conn.execute(
        "INSERT INTO gateways (name, token_hash, watermark) VALUES ('gw', 'x', %s) RETURNING gateway_id",
        (NOW - timedelta(seconds=30),),
    ).fetchone()["gateway_id"]
    conn.execute(
        "INSERT INTO cameras (camera_id, unit_set, unit_code, name, interval_s, gateway_id)"
        " VALUES ('a', '2024', '15865', 'a', 60, %s)",
        (gateway,),
    )
    conn.execute(
        "INSERT INTO camera_status (camera_id, first_ts, last_ts, last_status, last_state)"
        " VALUES ('a', %s, %s, 'ok', 'up')",
        (NOW - timedelta(days=2), NOW - timedelta(seconds=20)),
    )
    accounts.create_operator(conn, username="admin", role="admin", unit_set="2024", unit_codes=[], password=None)
    headers = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='admin')}"}
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        first = client.get(path, params=params, headers=headers)
        assert first.status_code == 200, first.text
        tag = first.headers["ETag"]
        again = client.get(path, params=params, headers={**headers, "If-None-Match": tag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == tag

        change(conn, settings, path)
        changed = client.get(path, params=params, headers={**headers, "If-None-Match": tag})
        assert changed.status_code == 200, changed.text
        assert changed.headers["ETag"] != tag and changed.json() != first.json()
