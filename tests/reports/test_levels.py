"""Reports at every level (issue 18) on the hand-made month, with one more camera and citizen in a unit of another
former district (Hàm Rồng of 2025, formerly in Thành phố Thanh Hóa): the province's briefing carries a subtotal per
former district equal to what `/uptime` and `/engagement` give with `group_by=district`, and every unit's row equals
their per-unit items; a xã's own briefing lists its cameras, and its commune operator may read it, no other's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts
from services.core.cameras import CameraRow, import_cameras
from services.ingest.event_writer import write_events
from services.ingest.heartbeat_writer import write_batch
from services.ingest.rollup import rollup_all
from services.reports.gather import gather
from services.reports.model import DistrictRow
from tests.reports.conftest import (
    AVAIL_GIANG,
    B1_DOWN_OCT,
    BUT_SON,
    GIANG,
    NOW,
    OCT,
    OCT_S,
    H,
    app_event,
    beats,
    local,
)

pytestmark = pytest.mark.db
HAM_RONG = "14758"  # a 2025 phường whose former district is 380 (Thành phố Thanh Hóa)
D1_DOWN = 23 * H  # silent Oct 5 00:00 → Oct 6 00:00: up the first hour, then down
OCTOBER = {"from": "2026-10-01T00:00:00+07:00", "to": "2026-11-01T00:00:00+07:00", "unit_set": "2025"}


@pytest.fixture
def province(conn: psycopg.Connection, month) -> None:
    accounts.create_gateway(conn, name="gw-tp", unit_set="2025", unit_codes=[HAM_RONG])
    gw = conn.execute("SELECT gateway_id FROM gateways WHERE name = 'gw-tp'").fetchone()["gateway_id"]
    import_cameras(conn, [CameraRow("D1", HAM_RONG, "Cổng phường Hàm Rồng", H, None, None, None)], unit_set="2025")
    rows = beats("D1", HAM_RONG, local(9, 1), local(11, 4), [(local(10, 5), local(10, 6))], set(), gw)
    write_batch(conn, [r._replace(unit_set="2025") for r in rows])
    rollup_all(conn)
    conn.execute(
        "INSERT INTO incidents (kind, status, unit_set, unit_code, camera_ids, opened_at, resolved_at, resolution)"
        " VALUES ('camera_down', 'resolved', '2025', %s, '{D1}', %s, %s, 'recovered')",
        (HAM_RONG, local(10, 5, 1), local(10, 6)),
    )
    write_events(
        conn,
        [
            app_event("s6", HAM_RONG, local(10, 9, 9))._replace(unit_set="2025"),
            app_event("s3", HAM_RONG, local(10, 12, 9))._replace(unit_set="2025"),  # s3 also in Hoằng Hóa
        ],
    )


@pytest.fixture
def api(settings, conn, province) -> Iterator[tuple[TestClient, dict, dict]]:
    accounts.create_operator(conn, username="vp", role="viewer", unit_set="2024", unit_codes=[], password=None)
    accounts.create_operator(conn, username="xa", role="commune", unit_set="2024", unit_codes=[GIANG], password=None)
    viewer = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='vp')}"}
    commune = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='xa')}"}
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        yield client, viewer, commune


def test_the_province_report_has_the_apis_district_and_unit_figures(api, conn, settings) -> None:
    client, viewer, _ = api
    report = gather(conn, settings, month=OCT, unit_set="2025", now=NOW)
    assert report.district_name == "tỉnh Thanh Hóa" and report.top_n == 10
    assert len(report.districts) > 2 and sum(d.units for d in report.districts) == 166
    by_district = {d.code: d for d in report.districts}
    uptime = client.get("/api/v1/uptime", params={**OCTOBER, "group_by": "district"}, headers=viewer).json()
    engaged = client.get(
        "/api/v1/engagement", params={"month": "2026-10", "unit_set": "2025", "group_by": "district"}, headers=viewer
    ).json()
    with_cameras = [i for i in uptime["items"] if i["cameras"]]
    assert {i["group_code"] for i in with_cameras} == {"380", "399"}  # cameras in two former districts
    for item in uptime["items"]:
        d = by_district[item["group_code"]]
        assert (d.name, d.cameras, d.units) == (item["group_name"], item["cameras"], item["units"])
        assert d.availability == (None if item["availability"] is None else pytest.approx(item["availability"]))
    for item in engaged["items"]:
        d = by_district[item["group_code"]]
        assert (d.mau, d.new, d.feedback) == (item["mau"], item["new"], item["feedback_submitted"])
    assert (by_district["380"].mau, by_district["399"].mau) == (2, 3)  # s3 counted once in each, not summed
    assert by_district["380"].availability == pytest.approx((OCT_S - D1_DOWN) / OCT_S, abs=1e-12)
    assert by_district["380"].incidents == 1 and by_district["399"].incidents == 3

    per_unit = client.get("/api/v1/uptime", params=OCTOBER, headers=viewer).json()["items"]
    per_unit_mau = client.get(
        "/api/v1/engagement", params={"month": "2026-10", "unit_set": "2025"}, headers=viewer
    ).json()["items"]
    rows = {u.code: u for u in report.units}
    for item in per_unit:
        if item["unit_code"] is not None:
            row = rows[item["unit_code"]]
            assert row.cameras == item["cameras"]
            assert row.availability == (None if not item["cameras"] else pytest.approx(item["availability"]))
    assert all(rows[i["unit_code"]].mau == i["mau"] for i in per_unit_mau)
    lines = report.lines()  # ordered by district, then unit, each district closed by its subtotal
    order = [(x.district_code, x.code) for x in lines if not isinstance(x, DistrictRow)]
    assert order == sorted(order, key=lambda k: (k[0] is None, k[0] or "", k[1]))
    assert isinstance(lines[-1], DistrictRow) or lines[-1].district_code is None

    response = client.get(
        "/api/v1/reports/monthly", params={"month": "2026-10", "format": "csv", "unit_set": "2025"}, headers=viewer
    )
    body = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    subtotal = next(r for r in body if r["row"] == "subtotal" and r["district_code"] == "380")
    assert subtotal["unit_code"] == "" and subtotal["mau"] == "2" and subtotal["cameras"] == "1"


def test_a_xas_own_briefing_lists_its_cameras(api, conn, settings) -> None:
    report = gather(conn, settings, month=OCT, unit_set="2025", now=NOW, unit="15880")
    assert report.district_name == "xã Hoằng Giang" and report.unit_code == "15880"
    assert [(c.camera_id, c.down_s) for c in report.cameras] == [("B1", B1_DOWN_OCT), ("C1", 0.0)]
    assert report.cameras[0].availability == pytest.approx(AVAIL_GIANG, abs=1e-12)
    assert (report.summary.cameras, report.summary.mau, report.summary.incidents) == (2, 1, 1)
    assert [s.code for s in report.shortfalls] == ["15880"]
    ham_rong = gather(conn, settings, month=OCT, unit_set="2025", now=NOW, unit=HAM_RONG)
    assert [(c.camera_id, c.incidents, c.down_s) for c in ham_rong.cameras] == [("D1", 1, D1_DOWN)]
    assert ham_rong.summary.mttr_s == 23 * H and ham_rong.summary.mau == 2
    with pytest.raises(LookupError, match="unit"):
        gather(conn, settings, month=OCT, unit_set="2025", now=NOW, unit="00000")


def test_a_commune_operator_gets_its_own_xas_briefing_and_no_others(api) -> None:
    client, viewer, commune = api
    for fmt in ("xlsx", "pdf", "docx", "csv"):
        own = client.get(
            "/api/v1/reports/monthly", params={"month": "2026-10", "format": fmt, "unit": GIANG}, headers=commune
        )
        assert own.status_code == 200, own.text
        assert f"bao-cao-thang-2026-10-2024-{GIANG}.{fmt}" in own.headers["content-disposition"]
    other = client.get("/api/v1/reports/monthly", params={"unit": BUT_SON}, headers=commune)
    assert other.status_code == 403 and "unit" in other.json()["detail"]
    assert client.get("/api/v1/reports/monthly", headers=commune).status_code == 403  # the whole set: not theirs
    assert client.get("/api/v1/reports/monthly", params={"unit": "99999"}, headers=viewer).status_code == 404
