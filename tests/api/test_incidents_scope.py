"""A xã operator's overview lists its own open incidents (`/incidents?status=open&limit=15`) however many newer
ones the rest of the province has: the operator's units are picked before the limit, not after it."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts
from services.core.settings import Settings

pytestmark = pytest.mark.db
NOW = datetime(2024, 3, 31, 16, 0, tzinfo=UTC)


def test_a_commune_sees_its_incidents_under_the_limit(settings: Settings, conn: psycopg.Connection) -> None:
    def open_incident(unit: str, minutes_ago: int) -> None:
        conn.execute(
            "INSERT INTO incidents (kind, status, unit_set, unit_code, camera_ids, opened_at)"
            " VALUES ('camera_down', 'open', '2024', %s, %s, %s)",
            (unit, [f"cam-{unit}-{minutes_ago}"], NOW - timedelta(minutes=minutes_ago)),
        )

    open_incident("15865", 120)  # the xã's, two hours old
    for k in range(20):  # newer, elsewhere
        open_incident("15871", k)
    accounts.create_operator(conn, username="xa", role="commune", unit_set="2024", unit_codes=["15865"], password=None)
    accounts.create_operator(conn, username="duty", role="admin", unit_set="2024", unit_codes=[], password=None)
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:

        def listed(who: str) -> list[dict]:
            headers = {"Authorization": f"Bearer {accounts.create_api_token(conn, username=who)}"}
            r = client.get("/api/v1/incidents", params={"status": "open", "limit": 15}, headers=headers)
            assert r.status_code == 200, r.text
            return r.json()["items"]

        mine = listed("xa")
        assert [(i["unit_code"], i["camera_ids"]) for i in mine] == [("15865", ["cam-15865-120"])]
        assert mine[0]["unit_name"]  # its name, from the unit
        everyone = listed("duty")
        assert len(everyone) == 15 and all(i["unit_code"] == "15871" for i in everyone)
