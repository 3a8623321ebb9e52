"""`GET /api/v1/maintenance` shows a xã operator the windows that shape its units' figures — on its cameras, on
its unit or the unit it became in 2025, over the whole fleet — and not another unit's (issue 31), whether it is
scoped to the 2024 commune or to the 2025 xã; an admin sees them all."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts, maintenance
from services.core.settings import Settings

pytestmark = pytest.mark.db
NOW = datetime(2024, 3, 31, 16, 0, tzinfo=UTC)


def test_a_commune_sees_the_windows_of_its_units_only(settings: Settings, conn: psycopg.Connection) -> None:
    for camera, unit in (("cam-mine", "15865"), ("cam-other", "15871")):
        conn.execute(
            "INSERT INTO cameras (camera_id, unit_set, unit_code, name, interval_s) VALUES (%s, '2024', %s, %s, 60)",
            (camera, unit, camera),
        )
    successor = conn.execute(
        "SELECT to_code FROM unit_mapping WHERE from_set = '2024' AND from_code = '15865' AND to_set = '2025'"
    ).fetchone()["to_code"]
    other_successor = conn.execute(
        "SELECT to_code FROM unit_mapping WHERE from_set = '2024' AND from_code = '15871' AND to_set = '2025'"
    ).fetchone()["to_code"]
    assert successor != other_successor  # two xã of 2025, so that the second is truly another's
    when = {"starts_at": NOW, "ends_at": NOW + timedelta(hours=2)}
    ids = {
        "camera, mine": maintenance.add_window(conn, camera_id="cam-mine", **when),
        "camera, other": maintenance.add_window(conn, camera_id="cam-other", **when),
        "unit, mine": maintenance.add_window(conn, unit=("2024", "15865"), **when),
        "unit, other": maintenance.add_window(conn, unit=("2024", "15871"), **when),
        "2025 unit it became": maintenance.add_window(conn, unit=("2025", successor), **when),
        "2025 unit of the other": maintenance.add_window(conn, unit=("2025", other_successor), **when),
        "everything": maintenance.add_window(conn, **when),
    }
    accounts.create_operator(conn, username="xa", role="commune", unit_set="2024", unit_codes=["15865"], password=None)
    accounts.create_operator(
        conn, username="xa-2025", role="commune", unit_set="2025", unit_codes=[successor], password=None
    )
    accounts.create_operator(conn, username="duty", role="admin", unit_set="2024", unit_codes=[], password=None)
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:

        def listed(who: str) -> set[str]:
            headers = {"Authorization": f"Bearer {accounts.create_api_token(conn, username=who)}"}
            r = client.get("/api/v1/maintenance", headers=headers)
            assert r.status_code == 200, r.text
            names = {v: k for k, v in ids.items()}
            return {names[w["id"]] for w in r.json()["items"]}

        assert listed("xa") == {"camera, mine", "unit, mine", "2025 unit it became", "everything"}
        # the xã of 2025 that 15865 became: the same, by way of the mapping
        assert listed("xa-2025") == {"camera, mine", "unit, mine", "2025 unit it became", "everything"}
        assert listed("duty") == set(ids)
