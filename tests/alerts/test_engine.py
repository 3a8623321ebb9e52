"""The alerts engine against the real TimescaleDB, ticked by hand: grouping per commune and channel, routing by
unit, reminders, the outbox written once; and acknowledging through the API with role checks."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.alerts.channels import add_channel
from services.alerts.engine import Engine
from services.api.app import create_app
from services.core import accounts
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatRow

pytestmark = pytest.mark.db
T = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
BUT_SON, HOANG_GIANG = "15865", "15871"


def beats(conn, gateway_id: int, unit: str, cameras: list[str], at: datetime) -> None:
    write_batch(
        conn,
        [HeartbeatRow(c, at, "ok", "up", None, None, None, gateway_id, "2024", unit, at) for c in cameras],
    )


@pytest.fixture
def fleet(conn: psycopg.Connection) -> dict[str, int]:
    ids = {}
    for unit in (BUT_SON, HOANG_GIANG):
        accounts.create_gateway(conn, name=f"gw-{unit}", unit_set="2024", unit_codes=[unit])
        ids[unit] = conn.execute("SELECT gateway_id FROM gateways WHERE name = %s", (f"gw-{unit}",)).fetchone()[
            "gateway_id"
        ]
    return ids


def cams(unit: str, n: int = 8) -> list[str]:
    return [f"{unit}-{i}" for i in range(n)]


def run(conn, engine: Engine, fleet: dict[str, int], minutes: int, silent: set[str], start: datetime) -> datetime:
    now = start
    for _ in range(minutes):
        now += timedelta(seconds=60)
        for unit, gw in fleet.items():
            beats(conn, gw, unit, [c for c in cams(unit) if c not in silent], now)
        engine.tick(conn, now, pipeline_stalled=False)
    return now


def test_one_message_per_commune_and_channel_routed_by_unit_with_reminders(conn, settings, fleet) -> None:
    engine = Engine(settings.model_copy(update={"alert_group_wait_s": 30, "alert_repeat_s": 600}))
    everyone = add_channel(conn, kind="webhook", target="http://127.0.0.1:9/all")
    but_son_only = add_channel(
        conn, kind="email", target="bs@example.org", unit_set="2024", unit_codes=[BUT_SON], lang="en"
    )
    for unit, gw in fleet.items():
        beats(conn, gw, unit, cams(unit), T)
    silent = {f"{BUT_SON}-0", f"{BUT_SON}-1", f"{HOANG_GIANG}-0"}  # two in one commune, one in the other
    now = run(conn, engine, fleet, 4, silent, T)
    rows = conn.execute("SELECT channel_id, event, unit_code, incident_ids, subject FROM notifications").fetchall()
    assert sorted((r["channel_id"], r["unit_code"], len(r["incident_ids"])) for r in rows) == [
        (everyone, BUT_SON, 2),
        (everyone, HOANG_GIANG, 1),
        (but_son_only, BUT_SON, 2),
    ]
    assert {r["subject"] for r in rows if r["channel_id"] == but_son_only} == {"🔴 Bút Sơn: Camera down"}
    # Ticking again queues nothing new; after PULSE_ALERT_REPEAT_S, one reminder per commune and channel.
    now = run(conn, engine, fleet, 5, silent, now)
    assert conn.execute("SELECT count(*) AS n FROM notifications").fetchone()["n"] == 3
    run(conn, engine, fleet, 6, silent, now)
    reminders = conn.execute("SELECT channel_id, unit_code FROM notifications WHERE event = 'reminder'").fetchall()
    assert sorted((r["channel_id"], r["unit_code"]) for r in reminders) == sorted(
        [(everyone, BUT_SON), (everyone, HOANG_GIANG), (but_son_only, BUT_SON)]
    )


def test_acknowledging_checks_the_role_and_the_unit(conn, settings, fleet) -> None:
    engine = Engine(settings)
    for unit, gw in fleet.items():
        beats(conn, gw, unit, cams(unit), T)
    run(conn, engine, fleet, 3, {f"{BUT_SON}-0"}, T)
    (incident,) = conn.execute("SELECT incident_id FROM incidents").fetchall()
    url = f"/api/v1/incidents/{incident['incident_id']}/ack"

    def token(username: str, role: str, units: list[str]) -> dict[str, str]:
        accounts.create_operator(conn, username=username, role=role, unit_set="2024", unit_codes=units, password=None)
        return {"Authorization": f"Bearer {accounts.create_api_token(conn, username=username)}"}

    with TestClient(create_app(settings)) as client:
        assert client.post(url, headers=token("viewer", "viewer", []), json={}).status_code == 403
        assert client.post(url, headers=token("hg", "commune", [HOANG_GIANG]), json={}).status_code == 404
        answer = client.post(url, headers=token("bs", "commune", [BUT_SON]), json={"note": "đã cử người kiểm tra"})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["acknowledged_by"], answer.json()["ack_note"]) == ("bs", "đã cử người kiểm tra")
        listed = client.get("/api/v1/incidents", headers=token("hg2", "commune", [HOANG_GIANG])).json()["items"]
        assert listed == []  # the other commune's operator does not see it
        bad = client.post(url, headers=token("admin", "admin", []), json={"note": "x" * 501})
        assert bad.status_code == 422 and "note" in bad.text
