"""The monthly briefing on a small hand-made month (October 2026, read on 4 November at 10:00 in Hoằng Hóa).

Heartbeats go through the real ingest writer and rollup; app events through the real event writer; incidents
are rows as `pulse alerts` writes them. Every expected figure is computed here from the scenario with plain
arithmetic — SPEC §5 and §8 read a second time — and the XLSX cells, the CSV rows and the PDF text must carry
them. LibreOffice must open the XLSX and the DOCX and convert them to PDF."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import date
from pathlib import Path

import openpyxl
import psycopg
import pytest

from services.reports import render
from services.reports.gather import gather
from tests.reports.conftest import (
    AVAIL_BS,
    AVAIL_DISTRICT,
    AVAIL_GIANG,
    AVAIL_XUAN,
    B1_DOWN_OCT,
    BUT_SON,
    C1_OCT,
    GIANG,
    MAU,
    MAU_SEP,
    MTTR,
    NEW,
    NOW,
    OCT,
    OCT_S,
    SEP,
    SEP_DISTRICT,
    SEP_GIANG,
    XUAN,
)

pytestmark = pytest.mark.db


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
    assert len(report.units) == 166  # the province's units from 1 July 2025
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


def test_the_annex_lists_the_maintenance_that_shaped_the_month(conn, settings, month, tmp_path: Path) -> None:
    """Issue 31: the windows in force in the month, who set them and when, and the reason of one set afterwards —
    in the PDF, the DOCX and the XLSX — and the audit trail's head as the figures were read."""
    from datetime import time

    from services.core import maintenance
    from services.reports.model import MonthlyReport
    from tests.reports.conftest import local

    outage = maintenance.add_window(
        conn,
        unit=("2024", GIANG),
        starts_at=local(10, 25),
        ends_at=local(10, 26),
        created_by="tinh-admin",
        now=local(11, 3, 9),
        reason="Mất điện diện rộng, Điện lực Hoằng Hóa xác nhận",
    )
    nightly = maintenance.add_window(
        conn,
        unit=("2024", XUAN),
        weekdays=[1],
        local_start=time(22),
        local_end=time(2),
        created_by="tinh-admin",
        now=local(10, 1),
    )
    conn.execute("UPDATE maintenance_windows SET created_at = %s WHERE window_id = %s", (local(11, 3, 9), outage))
    conn.execute("UPDATE maintenance_windows SET created_at = %s WHERE window_id = %s", (local(10, 1), nightly))
    report = gather(conn, settings, month=OCT, unit_set="2024", now=NOW)
    lines = {w.window_id: w for w in report.windows}
    assert (lines[outage].hours, lines[outage].set_afterwards, lines[outage].target) == (24.0, True, "Hoằng Giang")
    assert (lines[nightly].hours, lines[nightly].set_afterwards) == (16.0, False)  # 5, 12, 19, 26 Oct, 22:00–02:00
    assert len(report.audit_head) == 64
    assert MonthlyReport.from_json(report.to_json()) == report  # a kept report re-issues its annex as it was
    own = gather(conn, settings, month=OCT, unit_set="2024", now=NOW, unit=GIANG)
    assert [w.window_id for w in own.windows] == [outage]

    pdf = tmp_path / "annex.pdf"
    pdf.write_bytes(render(report, "pdf", "vi"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    flat = " ".join(text.split())  # a table cell's lines in order
    assert "PHỤ LỤC. KHUNG BẢO TRÌ ĐÃ TÁC ĐỘNG ĐẾN SỐ LIỆU THÁNG" in flat
    assert "Mất điện diện rộng, Điện lực Hoằng Hóa xác nhận" in flat and "(đặt lùi)" in flat
    assert "24,0" in flat and "16,0" in flat and "Hằng tuần T2, 22:00–02:00" in flat
    assert report.audit_head in flat
    docx = tmp_path / "annex-as-docx.docx"
    docx.write_bytes(render(report, "docx", "vi"))
    flat = " ".join(
        subprocess.run(
            ["pdftotext", str(_libreoffice_pdf(docx)), "-"], capture_output=True, check=True, text=True
        ).stdout.split()
    )
    assert "PHỤ LỤC" in flat and "Mất điện diện rộng" in flat
    book = openpyxl.load_workbook(io.BytesIO(render(report, "xlsx", "en")))
    cells = [c for row in book["Summary"].iter_rows(values_only=True) for c in row if c]
    assert "ANNEX. MAINTENANCE WINDOWS THAT SHAPED THIS MONTH'S FIGURES" in cells and "set afterwards" in " ".join(
        map(str, cells)
    )
