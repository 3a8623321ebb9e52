"""The monthly briefing on a small hand-made month (October 2026, read on 4 November at 10:00 in Hoằng Hóa).

Heartbeats go through the real ingest writer and rollup; app events through the real event writer; incidents
are rows as `pulse alerts` writes them. Every expected figure is computed here from the scenario with plain
arithmetic — SPEC §5 and §8 read a second time — and the XLSX cells, the CSV rows and the PDF text must carry
them. LibreOffice must open the XLSX and the DOCX and convert them to PDF."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import psycopg
import pytest

from services.core import accounts, units
from services.core.cameras import CameraRow, import_cameras
from services.ingest.app_events import EventRow
from services.ingest.event_writer import write_events
from services.ingest.heartbeat_writer import write_batch
from services.ingest.heartbeats import HeartbeatRow
from services.ingest.rollup import rollup_all
from services.reports import render
from services.reports.gather import gather

pytestmark = pytest.mark.db
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BUT_SON, GIANG, XUAN = "15865", "15871", "15877"  # 2024 communes; 2025: 15865 and 15880 (Giang + Xuân)
NOW = datetime(2026, 11, 4, 10, 0, tzinfo=TZ)
OCT, SEP = date(2026, 10, 1), date(2026, 9, 1)
H, DAY = 3600, 86400
OCT_S, SEP_S = 31 * DAY, 30 * DAY


def local(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ)


# --- the scenario: four cameras beating every hour (I = G = 3600 s) -------------------------------------------
# A1 (Bút Sơn)    silent from Oct 10 00:00 to Oct 11 00:00: up [00:00, 01:00), then down 23 h = 82,800 s.
# A2 (Bút Sơn)    three 'degraded' beats on Oct 20 at 10, 11, 12 h: 10,800 s degraded (still available).
# B1 (Giang)      silent Sep 11 → Sep 16: down 5 days − 1 h = 428,400 s in September;
#                 silent Oct 25 00:00 → Nov 4 00:00: down from Oct 25 01:00 to the month's end = 601,200 s.
# C1 (Xuân)       installed Oct 16: 16 days in service in October, all up; not in service in September.
A1_DOWN, A2_DEGRADED, B1_DOWN_OCT, B1_DOWN_SEP = 82_800, 10_800, 601_200, 428_400
C1_OCT = 16 * DAY


def beats(
    camera: str,
    unit: str,
    start: datetime,
    end: datetime,
    gaps: list[tuple[datetime, datetime]],
    degraded: set[datetime],
    gateway_id: int,
) -> list[HeartbeatRow]:
    rows, t = [], start
    while t <= end:
        if not any(a < t < b for a, b in gaps):
            status, state = ("degraded", "degraded") if t in degraded else ("ok", "up")
            ts = t.astimezone(UTC)
            rows.append(HeartbeatRow(camera, ts, status, state, None, None, None, gateway_id, "2024", unit, ts))
        t += timedelta(seconds=H)
    return rows


def app_event(subject: str, unit: str, at: datetime, event: str = "app_open", background: bool = False) -> EventRow:
    import uuid

    return EventRow(
        event_time=at.astimezone(UTC),
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{subject}{unit}{at}{event}"),
        event=event,
        subject=subject,
        unit_set="2024",
        unit_code=unit,
        session_id=None,
        app_id=None,
        platform="android",
        app_version="2.3.1",
        properties="{}",
        received_at=at.astimezone(UTC),
        background=background,
        day=at.date(),
    )


@pytest.fixture
def month(conn: psycopg.Connection) -> None:
    accounts.create_gateway(conn, name="gw", unit_set="2024", unit_codes=[BUT_SON, GIANG, XUAN])
    gw = conn.execute("SELECT gateway_id FROM gateways").fetchone()["gateway_id"]
    import_cameras(
        conn,
        [
            CameraRow(c, u, c, H, None, None, None)
            for c, u in (("A1", BUT_SON), ("A2", BUT_SON), ("B1", GIANG), ("C1", XUAN))
        ],
        unit_set="2024",
    )
    conn.execute("UPDATE cameras SET installed_at = %s WHERE camera_id = 'C1'", (local(10, 16),))
    first, last = local(9, 1), local(11, 4)
    rows = [
        *beats("A1", BUT_SON, first, last, [(local(10, 10), local(10, 11))], set(), gw),
        *beats("A2", BUT_SON, first, last, [], {local(10, 20, h) for h in (10, 11, 12)}, gw),
        *beats("B1", GIANG, first, last, [(local(9, 11), local(9, 16)), (local(10, 25), local(11, 4))], set(), gw),
        *beats("C1", XUAN, local(10, 16), last, [], set(), gw),
    ]
    for i in range(0, len(rows), 5000):
        write_batch(conn, rows[i : i + 5000])
    rollup_all(conn)
    incidents = [  # (kind, unit, opened, resolved, resolution)
        ("camera_down", BUT_SON, local(10, 10, 1), local(10, 11), "recovered"),  # 82,800 s
        ("camera_degraded", BUT_SON, local(10, 20, 10), local(10, 20, 13), "recovered"),  # 10,800 s
        ("commune_outage", GIANG, local(10, 25, 1), None, None),  # still open: counted, no restore time
        ("camera_down", GIANG, local(10, 25, 1), local(10, 25, 2), "merged"),  # absorbed: not counted
        ("pipeline_stalled", None, local(10, 3), local(10, 3, 1), "recovered"),  # the system: not counted
        ("camera_down", BUT_SON, local(9, 28), local(9, 28, 2), "recovered"),  # September
    ]
    for kind, unit, opened, resolved, resolution in incidents:
        conn.execute(
            "INSERT INTO incidents (kind, status, unit_set, unit_code, opened_at, resolved_at, resolution)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                kind,
                "open" if resolved is None else "resolved",
                "2024" if unit else None,
                unit,
                opened,
                resolved,
                resolution,
            ),
        )
    write_events(
        conn,
        [
            app_event("s1", BUT_SON, local(9, 15, 9)),
            app_event("s1", BUT_SON, local(10, 2, 9)),
            app_event("s1", BUT_SON, local(10, 3, 20)),
            app_event("s2", BUT_SON, local(10, 5, 8)),
            app_event("s2", BUT_SON, local(10, 5, 8), "feedback_submitted"),
            app_event("s3", GIANG, local(10, 7, 19)),
            app_event("s3", BUT_SON, local(10, 8, 7)),
            app_event("s4", XUAN, local(9, 20, 18)),
            app_event("s5", GIANG, local(10, 30, 3), background=True),  # background: not active
        ],
    )
    units.set_population(conn, unit_set="2024", code=BUT_SON, population=1000, households=None, note="UBND xã")
    units.set_adoption_target(conn, unit_set="2024", code=BUT_SON, target=0.01)


# --- expected figures, by hand -------------------------------------------------------------------------------
AVAIL_BS = (2 * OCT_S - A1_DOWN) / (2 * OCT_S)  # degraded time counts as available
AVAIL_GIANG = (OCT_S - B1_DOWN_OCT) / OCT_S
AVAIL_XUAN = 1.0
AVAIL_DISTRICT = (2 * OCT_S - A1_DOWN + OCT_S - B1_DOWN_OCT + C1_OCT) / (3 * OCT_S + C1_OCT)
SEP_GIANG = (SEP_S - B1_DOWN_SEP) / SEP_S
SEP_DISTRICT = (3 * SEP_S - B1_DOWN_SEP) / (3 * SEP_S)
MTTR = (82_800 + 10_800) / 2  # 13 h 0 min
MAU = {BUT_SON: 3, GIANG: 1, XUAN: 0}  # s1 s2 s3 | s3 | — (s5 only in the background)
MAU_SEP = {BUT_SON: 1, GIANG: 0, XUAN: 1}
NEW = {BUT_SON: 2, GIANG: 1, XUAN: 0}  # s2 s3 | s3 | —  (s1 first came in September)


def test_the_figures_are_the_hand_computed_ones(conn: psycopg.Connection, settings, month) -> None:
    report = gather(conn, settings, month=OCT, unit_set="2024", now=NOW)
    by = {u.code: u for u in report.units}
    assert len(report.units) == 37
    assert by[BUT_SON].availability == pytest.approx(AVAIL_BS, abs=1e-12)
    assert by[GIANG].availability == pytest.approx(AVAIL_GIANG, abs=1e-12)
    assert by[XUAN].availability == AVAIL_XUAN
    assert by["15886"].availability is None and by["15886"].cameras == 0  # a commune without cameras
    assert by[BUT_SON].availability_prev == 1.0 and by[GIANG].availability_prev == pytest.approx(SEP_GIANG)
    assert by[XUAN].availability_prev is None and by[XUAN].availability_change is None
    assert by[GIANG].availability_change == pytest.approx(AVAIL_GIANG - SEP_GIANG)
    assert [by[c].cameras for c in (BUT_SON, GIANG, XUAN)] == [2, 1, 1]
    assert [by[c].incidents for c in (BUT_SON, GIANG, XUAN)] == [2, 1, 0]
    assert {c: by[c].mau for c in MAU} == MAU and {c: by[c].mau_prev for c in MAU} == MAU_SEP
    assert {c: by[c].new for c in NEW} == NEW
    assert by[BUT_SON].feedback == 1 and by[BUT_SON].mau_change == pytest.approx(2.0)  # 1 → 3
    assert by[BUT_SON].adoption == pytest.approx(0.003) and by[GIANG].adoption is None
    s = report.summary
    assert s.cameras == 4 and s.incidents == 3 and s.mttr_s == MTTR
    assert s.availability == pytest.approx(AVAIL_DISTRICT, abs=1e-12)
    assert s.availability_prev == pytest.approx(SEP_DISTRICT, abs=1e-12)
    assert (s.mau, s.mau_prev, s.new, s.feedback) == (3, 2, 2, 1)  # district: distinct subjects, not a sum
    assert s.population is None and s.adoption is None  # 36 communes without a population: no district figure
    assert [u.code for u in report.top] == [XUAN, BUT_SON, GIANG]
    assert [u.code for u in report.bottom] == [GIANG, BUT_SON, XUAN]
    assert [(f.code, f.kind) for f in report.shortfalls] == [(GIANG, "availability"), (BUT_SON, "adoption")]
    history = dict(report.mau_history)
    assert len(report.mau_history) == 12 and report.mau_history[0][0] == date(2025, 11, 1)
    assert history[SEP] == 2 and history[OCT] == 3 and sum(history.values()) == 5


def test_the_2025_view_aggregates_the_2024_communes(conn: psycopg.Connection, settings, month) -> None:
    report = gather(conn, settings, month=OCT, unit_set="2025", now=NOW)
    by = {u.code: u for u in report.units}
    assert len(report.units) == 8
    giang = by["15880"]  # Hoằng Giang 2025 = Giang + Xuân + Phượng (2024)
    assert giang.availability == pytest.approx((OCT_S - B1_DOWN_OCT + C1_OCT) / (OCT_S + C1_OCT), abs=1e-12)
    assert (giang.cameras, giang.incidents, giang.mau, giang.new) == (2, 1, 1, 1)
    hoa = by["15865"]  # Hoằng Hóa 2025 takes in Bút Sơn
    assert hoa.availability == pytest.approx(AVAIL_BS, abs=1e-12) and hoa.mau == 3 and hoa.incidents == 2
    assert report.summary.availability == pytest.approx(AVAIL_DISTRICT, abs=1e-12)
    assert report.summary.mau == 3


def test_csv_rows_carry_the_figures(conn: psycopg.Connection, settings, month) -> None:
    data = render(gather(conn, settings, month=OCT, unit_set="2024", now=NOW), "csv", "vi")
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel shows the diacritics
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=False)) for r in rows[1:]}
    assert header[:4] == ["unit_code", "unit_name", "cameras", "availability"]
    giang = body[GIANG]
    assert giang["unit_name"] == "Hoằng Giang" and giang["cameras"] == "1" and giang["incidents"] == "1"
    assert float(giang["availability"]) == pytest.approx(AVAIL_GIANG, abs=1e-6)
    assert float(body[BUT_SON]["adoption"]) == pytest.approx(0.003) and body[BUT_SON]["mau"] == "3"
    assert float(body["*"]["availability"]) == pytest.approx(AVAIL_DISTRICT, abs=1e-6) and body["*"]["mau"] == "3"
    assert rows[-1] == ["Số liệu tính đến 10:00 ngày 04/11/2026."]


def test_xlsx_cells_are_numbers_with_formats_and_native_charts(conn, settings, month, tmp_path: Path) -> None:
    data = render(gather(conn, settings, month=OCT, unit_set="2024", now=NOW), "xlsx", "vi")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Tổng hợp", "Theo đơn vị", "MAU 12 tháng", "Biểu đồ"]
    sheet = book["Theo đơn vị"]
    rows = {r[1].value: r for r in sheet.iter_rows(min_row=2)}
    giang = rows[GIANG]
    assert giang[2].value == "Hoằng Giang" and giang[3].value == 1
    assert isinstance(giang[4].value, float) and giang[4].value == pytest.approx(AVAIL_GIANG, abs=1e-12)
    assert giang[4].number_format == "0.0%"
    assert giang[6].value == 1 and rows[BUT_SON][7].value == 3 and rows[BUT_SON][9].value == pytest.approx(0.003)
    assert rows["*"][4].value == pytest.approx(AVAIL_DISTRICT, abs=1e-12)
    summary = [[c.value for c in r] for r in book["Tổng hợp"].iter_rows()]
    assert ["Số sự cố", 3, None] in summary and ["Thời gian khắc phục trung bình (h)", 13.0, None] in summary
    assert any(r[0] == "Số liệu tính đến 10:00 ngày 04/11/2026." for r in summary)
    assert len(book["Biểu đồ"]._charts) == 2
    (tmp_path / "r.xlsx").write_bytes(data)
    assert _libreoffice_pdf(tmp_path / "r.xlsx").exists()


def test_pdf_text_carries_the_figures_with_diacritics(conn, settings, month, tmp_path: Path) -> None:
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render(gather(conn, settings, month=OCT, unit_set="2024", now=NOW), "pdf", "vi"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "ỦY BAN NHÂN DÂN" in text and "HUYỆN HOẰNG HÓA" in text and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Số liệu tính đến 10:00 ngày 04/11/2026." in text
    assert f"{AVAIL_GIANG * 100:.1f} %".replace(".", ",") in text  # 77,6 %
    assert f"{AVAIL_DISTRICT * 100:.1f} %".replace(".", ",") in text
    assert "13 giờ 0 phút" in text
    assert "Hoằng Giang: tỷ lệ camera hoạt động 77,6 %, dưới mức 95,0 %." in text
    assert "Bút Sơn: tỷ lệ sử dụng ứng dụng 0,3 %, dưới chỉ tiêu 1,0 %." in text
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True, text=True).stdout
    assert "A4" in pages
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, check=True, text=True).stdout
    assert "DejaVuSans" in fonts and all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])  # embedded


def test_docx_opens_in_libreoffice_with_its_sections(conn, settings, month, tmp_path: Path) -> None:
    docx = tmp_path / "r.docx"
    docx.write_bytes(render(gather(conn, settings, month=OCT, unit_set="2024", now=NOW), "docx", "vi"))
    pdf = _libreoffice_pdf(docx)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    for heading in ("BÁO CÁO", "I. TỔNG HỢP TOÀN HUYỆN HOẰNG HÓA", "V. TỒN TẠI, HẠN CHẾ", "Hoằng Giang"):
        assert heading in text


def test_english_report(conn, settings, month) -> None:
    data = render(gather(conn, settings, month=OCT, unit_set="2024", now=NOW), "csv", "en")
    assert data.decode("utf-8-sig").splitlines()[-1].startswith("Figures as of 2026-11-04 10:00")


def _libreoffice_pdf(path: Path) -> Path:
    profile = path.parent / "lo-profile"
    result = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(path.parent),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    out = path.with_suffix(".pdf")
    assert out.exists() and out.stat().st_size > 1000, result.stdout + result.stderr
    return out
