"""How the briefing lays out a report over several districts (subtotals, top and bottom ten) and a unit's own
briefing (its cameras), on figures made by hand: no database. The figures themselves are checked against the API
in `test_levels.py`."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from services.reports import filename, render
from services.reports.model import CameraLine, DistrictRow, MonthlyReport, Summary, UnitRow

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def unit(code: str, name: str, availability: float | None, district: tuple[str, str]) -> UnitRow:
    return UnitRow(
        code=code,
        name=name,
        cameras=2 if availability is not None else 0,
        availability=availability,
        availability_prev=None,
        incidents=1,
        mau=3,
        mau_prev=2,
        population=None,
        adoption=None,
        adoption_target=None,
        new=1,
        feedback=0,
        district_code=district[0],
        district_name=district[1],
    )


def district(code: str, name: str, availability: float, mau: int) -> DistrictRow:
    return DistrictRow(
        code=code,
        name=name,
        units=6,
        cameras=12,
        availability=availability,
        availability_prev=None,
        incidents=6,
        mau=mau,
        mau_prev=0,
        population=None,
        adoption=None,
        new=mau,
        feedback=0,
    )


SUMMARY = Summary(
    cameras=24,
    availability=0.9,
    availability_prev=None,
    incidents=12,
    mttr_s=3600,
    mau=30,
    mau_prev=4,
    population=None,
    adoption=None,
    new=30,
    feedback=0,
)
HH, TH = ("399", "Huyện Hoằng Hóa"), ("380", "Thành phố Thanh Hóa")


def province() -> MonthlyReport:
    units = [unit(f"1{i:02d}", f"Hoằng Đức {i}", 0.90 + i / 100, HH) for i in range(6)]
    units += [unit(f"2{i:02d}", f"Hàm Rồng {i}", 0.80 + i / 100 if i else None, TH) for i in range(6)]
    return MonthlyReport(
        month=date(2026, 10, 1),
        unit_set="2025",
        district_name="tỉnh Thanh Hóa",
        as_of=datetime(2026, 11, 4, 10, tzinfo=TZ),
        timezone="Asia/Ho_Chi_Minh",
        availability_target=0.95,
        summary=SUMMARY,
        units=units,
        mau_history=[(date(2026, 10, 1), 30)],
        districts=[district("380", TH[1], 0.825, 11), district("399", HH[1], 0.925, 17)],
    )


def own() -> MonthlyReport:
    return MonthlyReport(
        month=date(2026, 10, 1),
        unit_set="2025",
        district_name="xã Hoằng Giang",
        as_of=datetime(2026, 11, 4, 10, tzinfo=TZ),
        timezone="Asia/Ho_Chi_Minh",
        availability_target=0.95,
        summary=SUMMARY,
        units=[unit("15880", "Hoằng Giang", 0.8, HH)],
        mau_history=[(date(2026, 10, 1), 3)],
        unit_code="15880",
        cameras=[
            CameraLine("B1", "Cổng chợ Giang", 0.776, 601_200, 1),
            CameraLine("C1", "Ngã ba Xuân", 1.0, 0, 0),
        ],
    )


def test_units_follow_their_district_and_each_district_ends_with_its_subtotal() -> None:
    lines = province().lines()
    assert [x.code for x in lines[:7]] == ["200", "201", "202", "203", "204", "205", "380"]
    assert isinstance(lines[6], DistrictRow) and isinstance(lines[-1], DistrictRow) and lines[-1].code == "399"


def test_a_report_over_several_districts_ranks_ten_and_one_district_five() -> None:
    report = province()
    assert len(report.top) == 10 and len(report.bottom) == 10  # 11 units with a figure
    assert report.bottom[0].name == "Hàm Rồng 1"
    single = MonthlyReport(**{**report.__dict__, "districts": report.districts[:1]})
    assert len(single.top) == 5


def test_kept_figures_come_back_with_their_subtotals_and_cameras() -> None:
    for report in (province(), own()):
        assert MonthlyReport.from_json(report.to_json()) == report


def test_xlsx_subtotal_rows_are_bold_numbers() -> None:
    book = openpyxl.load_workbook(io.BytesIO(render(province(), "xlsx", "vi")))
    assert book.sheetnames == ["Tổng hợp", "Theo đơn vị", "Theo huyện", "MAU 12 tháng", "Biểu đồ"]
    rows = [r for r in book["Theo đơn vị"].iter_rows(min_row=2)]
    subtotal = next(r for r in rows if r[2].value == "Cộng: Huyện Hoằng Hóa")
    assert subtotal[3].value == 12 and subtotal[4].value == pytest.approx(0.925) and subtotal[7].value == 17
    assert all(isinstance(subtotal[i].value, int | float) for i in (3, 4, 6, 7, 11)) and subtotal[4].font.b
    assert subtotal[4].number_format == "0.0%"
    assert rows[0][13].value == "Thành phố Thanh Hóa"  # each unit names its district
    summary = [[c.value for c in r] for r in book["Tổng hợp"].iter_rows()]
    assert ["Mười đơn vị cao nhất", None, None] in summary and ["Mười đơn vị thấp nhất", None, None] in summary


def test_csv_marks_subtotal_rows_with_their_district() -> None:
    rows = list(csv.DictReader(io.StringIO(render(province(), "csv", "vi").decode("utf-8-sig"))))
    subtotals = [r for r in rows if r["row"] == "subtotal"]
    assert [(r["district_code"], r["district_name"], r["mau"]) for r in subtotals] == [
        ("380", "Thành phố Thanh Hóa", "11"),
        ("399", "Huyện Hoằng Hóa", "17"),
    ]
    assert subtotals[1]["unit_code"] == "" and float(subtotals[1]["availability"]) == pytest.approx(0.925)
    assert rows[0]["row"] == "unit" and rows[0]["district_code"] == "380"
    assert [r["unit_code"] for r in rows if r["row"] == "total"] == ["*"]


def test_pdf_prints_the_district_subtotals_with_diacritics(tmp_path: Path) -> None:
    text = _pdf_text(render(province(), "pdf", "vi"), tmp_path)
    assert "TỔNG HỢP TOÀN TỈNH THANH HÓA" in text and "ỦY BAN NHÂN DÂN" in text
    assert "Cộng: Huyện Hoằng Hóa" in text and "Cộng: Thành phố Thanh Hóa" in text
    assert "Mười đơn vị cao nhất" in text and "92,5 %" in text


def test_a_units_own_briefing_has_its_cameras_in_every_format(tmp_path: Path) -> None:
    report = own()
    text = _pdf_text(render(report, "pdf", "vi"), tmp_path)
    assert "XÃ HOẰNG GIANG" in text and "II. SỐ LIỆU THEO CAMERA" in text and "III. NGƯỜI DÙNG ỨNG DỤNG" in text
    assert "Cổng chợ Giang" in text and "167 giờ 0 phút" in text and "đơn vị cao nhất" not in text
    book = openpyxl.load_workbook(io.BytesIO(render(report, "xlsx", "vi")))
    cams = [[c.value for c in r] for r in book["Theo camera"].iter_rows(min_row=2)]
    assert cams == [["B1", "Cổng chợ Giang", 0.776, 167.0, 1], ["C1", "Ngã ba Xuân", 1.0, 0.0, 0]]
    rows = list(csv.DictReader(io.StringIO(render(report, "csv", "vi").decode("utf-8-sig"))))
    assert [(r["row"], r["camera_id"], r["down_s"]) for r in rows if r["row"] == "camera"] == [
        ("camera", "B1", "601200"),
        ("camera", "C1", "0"),
    ]
    assert render(report, "docx", "vi").startswith(b"PK")
    assert filename(report, "pdf") == "bao-cao-thang-2026-10-2025-15880.pdf"


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
