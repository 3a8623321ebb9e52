"""Issuing the briefing: the monthly schedule keeps last month's report once and sends it — e-mail with the XLSX
and PDF attached (to a real SMTP server), a webhook with the link; a kept report is re-issued with the figures it
had; the API serves the four formats to the roles that see the whole district."""

from __future__ import annotations

import email
import email.policy
import io
import json
from collections.abc import Iterator
from datetime import datetime

import httpx
import openpyxl
import psycopg
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from services.alerts import outbox
from services.alerts.channels import add_channel
from services.api.app import create_app
from services.core import accounts
from services.reports.issue import run_schedule
from tests.e2e.harness import free_port
from tests.reports.conftest import AVAIL_GIANG, GIANG, NOW, TZ

pytestmark = pytest.mark.db
FIRST_OF_NOVEMBER = datetime(2026, 11, 1, 0, 30, tzinfo=TZ)


class Mailbox:
    def __init__(self) -> None:
        self.mail: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mail.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


async def test_the_schedule_keeps_last_months_report_once_and_mails_it(conn, settings, month, mailbox) -> None:
    box, port = mailbox
    tuned = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "public_url": "https://pulse.example"}
    )
    add_channel(conn, kind="email", target="van-phong@hoanghoa.example", wants_reports=True)
    add_channel(conn, kind="webhook", target="http://127.0.0.1:9/hook", wants_reports=True)
    add_channel(conn, kind="email", target="truc-ban@hoanghoa.example")  # alerts only: no report

    assert run_schedule(conn, tuned, datetime(2026, 10, 31, 23, 0, tzinfo=TZ)) is not None  # September's, caught up
    report_id = run_schedule(conn, tuned, FIRST_OF_NOVEMBER)
    assert report_id is not None
    assert run_schedule(conn, tuned, FIRST_OF_NOVEMBER) is None  # once
    kept = conn.execute("SELECT month, scheduled, figures FROM reports WHERE report_id = %s", (report_id,)).fetchone()
    assert str(kept["month"]) == "2026-10-01" and kept["scheduled"]
    queued = conn.execute(
        "SELECT c.kind, n.subject, n.payload FROM notifications n JOIN channels c USING (channel_id)"
        " WHERE n.event = 'report' AND n.payload->>'month' = '2026-10' ORDER BY c.kind"
    ).fetchall()
    assert [q["kind"] for q in queued] == ["email", "webhook"]
    assert queued[1]["payload"]["link"] == "https://pulse.example/#/reports"

    async with httpx.AsyncClient() as http:
        await outbox.deliver_due(conn, http, tuned, FIRST_OF_NOVEMBER)
    october = [m for m in box.mail if "10/2026" in m["Subject"]]
    assert len(october) == 1 and october[0]["To"] == "van-phong@hoanghoa.example"
    assert "Tình hình hoạt động hệ thống camera" in october[0]["Subject"]
    files = {part.get_filename(): part.get_content() for part in october[0].iter_attachments()}
    assert set(files) == {"bao-cao-thang-2026-10-2024.xlsx", "bao-cao-thang-2026-10-2024.pdf"}
    assert files["bao-cao-thang-2026-10-2024.pdf"].startswith(b"%PDF")
    book = openpyxl.load_workbook(io.BytesIO(files["bao-cao-thang-2026-10-2024.xlsx"]))
    giang = next(r for r in book["Theo đơn vị"].iter_rows(min_row=2) if r[1].value == GIANG)
    assert giang[4].value == pytest.approx(AVAIL_GIANG, abs=1e-12)


@pytest.fixture
def api(settings, conn, month) -> Iterator[tuple[TestClient, dict, dict]]:
    accounts.create_operator(conn, username="vp", role="viewer", unit_set="2024", unit_codes=[], password=None)
    accounts.create_operator(conn, username="xa", role="commune", unit_set="2024", unit_codes=[GIANG], password=None)
    viewer = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='vp')}"}
    commune = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='xa')}"}
    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        yield client, viewer, commune


def test_the_api_serves_every_format(api) -> None:
    client, viewer, _ = api
    types = {
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "csv": "text/csv; charset=utf-8",
    }
    for fmt, content_type in types.items():
        response = client.get("/api/v1/reports/monthly", params={"month": "2026-10", "format": fmt}, headers=viewer)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == content_type
        assert f'filename="bao-cao-thang-2026-10-2024.{fmt}"' in response.headers["content-disposition"]
    default = client.get("/api/v1/reports/monthly", headers=viewer)  # last month, XLSX
    assert default.headers["content-disposition"].endswith("bao-cao-thang-2026-10-2024.xlsx")
    english = client.get(
        "/api/v1/reports/monthly", params={"format": "csv", "lang": "en", "unit_set": "2025"}, headers=viewer
    )
    assert "monthly-report-2026-10-2025.csv" in english.headers["content-disposition"]


def test_bad_report_requests_name_the_field_and_roles_are_checked(api) -> None:
    client, viewer, commune = api
    bad = client.get("/api/v1/reports/monthly", params={"month": "2026-13"}, headers=viewer)
    assert bad.status_code == 422 and "month" in bad.json()["detail"]
    future = client.get("/api/v1/reports/monthly", params={"month": "2027-01"}, headers=viewer)
    assert future.status_code == 422 and "month" in future.json()["detail"]
    wrong = client.get("/api/v1/reports/monthly", params={"format": "odt"}, headers=viewer)
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["query", "format"]
    assert client.get("/api/v1/reports/monthly", headers=commune).status_code == 403
    assert client.get("/api/v1/reports", headers=commune).status_code == 403
    assert client.get("/api/v1/reports/monthly").status_code == 401


def test_a_kept_report_is_reissued_with_the_figures_it_had(api, conn: psycopg.Connection, settings) -> None:
    client, viewer, _ = api
    report_id = run_schedule(conn, settings, FIRST_OF_NOVEMBER)
    listed = client.get("/api/v1/reports", headers=viewer).json()["items"]
    assert [(r["id"], r["month"], r["scheduled"]) for r in listed] == [(report_id, "2026-10", True)]
    # Later, an incident of October is recorded (a late import, say): a new reading changes, the kept one not.
    conn.execute(
        "INSERT INTO incidents (kind, status, unit_set, unit_code, opened_at) VALUES"
        " ('camera_down', 'open', '2024', %s, %s)",
        (GIANG, datetime(2026, 10, 30, tzinfo=TZ)),
    )

    def incidents(text: str) -> str:
        row = next(line for line in text.splitlines() if line.startswith(GIANG + ","))
        return row.split(",")[6]

    kept = client.get(f"/api/v1/reports/{report_id}", params={"format": "csv"}, headers=viewer)
    fresh = client.get("/api/v1/reports/monthly", params={"month": "2026-10", "format": "csv"}, headers=viewer)
    assert incidents(kept.content.decode("utf-8-sig")) == "1" and incidents(fresh.content.decode("utf-8-sig")) == "2"
    assert client.get("/api/v1/reports/99999", headers=viewer).status_code == 404
    assert json.loads(json.dumps(listed))  # plain JSON
