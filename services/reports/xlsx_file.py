"""The briefing as XLSX (openpyxl): numbers stored as numbers with display formats, and native Excel charts that
follow the cells (availability by unit — by district in a report over several, by camera in a unit's own; the
MAU over 12 months). A report over several districts has a bold subtotal row after each district's units."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from services.reports.model import DistrictRow, MonthlyReport, UnitRow
from services.reports.texts import Texts

PERCENT = "0.0%"
# A change: in percentage points for availability (the header says so), relative for MAU.
CHANGE = "+0.0%;-0.0%;0.0%"
COUNT = "#,##0"
BOLD = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")


def _header(ws: Worksheet, row: int, labels: list[str]) -> None:
    for col, label in enumerate(labels, start=1):
        cell = ws.cell(row=row, column=col, value=label)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _widths(ws: Worksheet, widths: list[int]) -> None:
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width


def _summary_sheet(ws: Worksheet, report: MonthlyReport, t: Texts) -> None:
    s = report.summary
    ws.append([" ".join(t.authority_lines())])
    ws.append([t("title")])
    ws.append([t("subtitle", month=t.month())])
    ws.append([t.unit_set_line()])
    ws.append([t("as_of", time=t.moment(report.as_of))])
    for row in (1, 2, 3):
        ws.cell(row=row, column=1).font = BOLD
    ws.append([])
    ws.append([t("s_summary", district_upper=t.district.upper())])
    ws.cell(row=ws.max_row, column=1).font = BOLD
    _header(ws, ws.max_row + 1, [t("figure"), t("value"), t("change")])
    rows = [
        (t("cameras"), s.cameras, COUNT, None, None),
        (t("availability"), s.availability, PERCENT, s.availability_change, CHANGE),
        (t("incidents"), s.incidents, COUNT, None, None),
        (t("mttr") + " (h)", None if s.mttr_s is None else round(s.mttr_s / 3600, 2), "0.00", None, None),
        (t("mau"), s.mau, COUNT, s.mau_change, CHANGE),
        (t("adoption"), s.adoption, PERCENT, None, None),
        (t("new"), s.new, COUNT, None, None),
        (t("feedback"), s.feedback, COUNT, None, None),
    ]
    for label, value, fmt, change, change_fmt in rows:
        ws.append([label, value, change])
        ws.cell(row=ws.max_row, column=2).number_format = fmt
        if change_fmt:
            ws.cell(row=ws.max_row, column=3).number_format = change_fmt
    rankings = (
        [] if report.unit_code else [(t.ranking_title("top"), report.top), (t.ranking_title("bottom"), report.bottom)]
    )
    for title, units in rankings:
        ws.append([])
        ws.append([title])
        ws.cell(row=ws.max_row, column=1).font = BOLD
        _header(ws, ws.max_row + 1, [t("unit"), t("availability_short"), t("availability_change")])
        for u in units:
            ws.append([u.name, u.availability, u.availability_change])
            ws.cell(row=ws.max_row, column=2).number_format = PERCENT
            ws.cell(row=ws.max_row, column=3).number_format = CHANGE
    ws.append([])
    ws.append([t("s_shortfalls")])
    ws.cell(row=ws.max_row, column=1).font = BOLD
    for line in t.shortfall_lines():
        ws.append([line])
    ws.append([])
    ws.append([t("s_windows")])
    ws.cell(row=ws.max_row, column=1).font = BOLD
    header, *windows = t.windows_table()
    if windows:
        ws.append([t("windows_note")])
        _header(ws, ws.max_row + 1, header[1:])
        for window in windows:
            ws.append(window[1:])
    else:
        ws.append([t("no_windows")])
    ws.append([])
    ws.append([t.audit_line()])
    _widths(ws, [48, 16, 18])


def _units_sheet(ws: Worksheet, report: MonthlyReport, t: Texts) -> None:
    labels = [
        t("no"),
        "Mã",
        t("unit"),
        t("cameras"),
        t("availability_short"),
        t("availability_change"),
        t("incidents"),
        "MAU",
        t("mau_change"),
        t("adoption_short"),
        t("target"),
        t("new"),
        t("feedback"),
    ]
    if report.districts:
        labels.append(t("district_col"))
    _header(ws, 1, labels)
    formats = [None, None, None, COUNT, PERCENT, CHANGE, COUNT, COUNT, CHANGE, PERCENT, PERCENT, COUNT, COUNT]
    i = 0
    for u in report.lines():
        unit = isinstance(u, UnitRow)
        i += unit
        ws.append(
            [
                i if unit else "",
                u.code if unit else "",
                t.line_label(u),
                u.cameras,
                u.availability,
                u.availability_change,
                u.incidents,
                u.mau,
                u.mau_change,
                u.adoption,
                u.adoption_target if isinstance(u, UnitRow) else None,
                u.new,
                u.feedback,
                *([(u.district_name if isinstance(u, UnitRow) else u.name)] if report.districts else []),
            ]
        )
        for col, fmt in enumerate(formats, start=1):
            if fmt:
                ws.cell(row=ws.max_row, column=col).number_format = fmt
            if isinstance(u, DistrictRow):
                ws.cell(row=ws.max_row, column=col).font = BOLD
    s = report.summary
    ws.append(
        [
            "",
            "*",
            t("district_row", district=t.district),
            s.cameras,
            s.availability,
            None,
            s.incidents,
            s.mau,
            None,
            s.adoption,
            None,
            s.new,
            s.feedback,
        ]
    )
    for col, fmt in enumerate(formats, start=1):
        ws.cell(row=ws.max_row, column=col).font = BOLD
        if fmt:
            ws.cell(row=ws.max_row, column=col).number_format = fmt
    ws.freeze_panes = "D2"
    _widths(ws, [5, 8, 30 if report.districts else 20, 9, 11, 10, 8, 9, 9, 12, 10, 9, 10, 26])


def _bars_sheet(ws: Worksheet, report: MonthlyReport, t: Texts) -> int:
    """The rows the availability chart draws when they are not the units: a district's (report over several) or a
    camera's (a unit's own briefing). Returns how many."""
    if report.unit_code is not None:
        _header(ws, 1, [t("camera_id"), t("camera"), t("availability_short"), t("down_time") + " (h)", t("incidents")])
        for c in report.cameras:
            ws.append([c.camera_id, c.name, c.availability, round(c.down_s / 3600, 2), c.incidents])
            ws.cell(row=ws.max_row, column=3).number_format = PERCENT
            ws.cell(row=ws.max_row, column=4).number_format = "0.00"
        _widths(ws, [16, 30, 11, 14, 8])
        return len(report.cameras)
    _header(ws, 1, ["Mã", t("district_col"), t("availability_short"), t("cameras"), t("incidents"), "MAU"])
    for d in report.districts:
        ws.append([d.code, d.name, d.availability, d.cameras, d.incidents, d.mau])
        ws.cell(row=ws.max_row, column=3).number_format = PERCENT
    _widths(ws, [8, 30, 11, 10, 8, 8])
    return len(report.districts)


def _history_sheet(ws: Worksheet, report: MonthlyReport, t: Texts) -> None:
    _header(ws, 1, [t("month_col"), "MAU"])
    for month, mau in report.mau_history:
        ws.append([t.month(month), mau])
        ws.cell(row=ws.max_row, column=2).number_format = COUNT
    _widths(ws, [12, 12])


def _charts_sheet(
    ws: Worksheet, units: Worksheet, bars_of: Worksheet | None, history: Worksheet, report: MonthlyReport, t: Texts
) -> None:
    bars = BarChart()
    bars.type = "bar"
    bars.y_axis.number_format = "0%"
    bars.y_axis.scaling.min = 0
    bars.y_axis.scaling.max = 1
    if bars_of is None:
        n = len(report.units)
        bars.title = t("chart_availability", month=t.month())
        bars.add_data(Reference(units, min_col=5, min_row=1, max_row=n + 1), titles_from_data=True)
        bars.set_categories(Reference(units, min_col=3, min_row=2, max_row=n + 1))
    else:
        n = bars_of.max_row - 1
        key = "chart_availability_camera" if report.unit_code else "chart_availability_district"
        bars.title = t(key, month=t.month())
        bars.add_data(Reference(bars_of, min_col=3, min_row=1, max_row=n + 1), titles_from_data=True)
        bars.set_categories(Reference(bars_of, min_col=2, min_row=2, max_row=n + 1))
    bars.x_axis.scaling.orientation = "maxMin"  # first unit on top, as in the table
    bars.height, bars.width = max(8, 0.5 * n), 18
    bars.legend = None
    ws.add_chart(bars, "A1")
    mau = BarChart()
    mau.title = t("chart_mau", district=t.district)
    mau.add_data(Reference(history, min_col=2, min_row=1, max_row=len(report.mau_history) + 1), titles_from_data=True)
    mau.set_categories(Reference(history, min_col=1, min_row=2, max_row=len(report.mau_history) + 1))
    mau.height, mau.width = 8, 18
    mau.legend = None
    ws.add_chart(mau, "L1")


def render(report: MonthlyReport, t: Texts) -> bytes:
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = t("sheet_summary")
    units = wb.create_sheet(t("sheet_units"))
    bars_of = None
    if report.unit_code is not None or report.districts:
        bars_of = wb.create_sheet(t("sheet_cameras" if report.unit_code else "sheet_districts"))
        _bars_sheet(bars_of, report, t)
    history = wb.create_sheet(t("sheet_history"))
    charts = wb.create_sheet(t("sheet_charts"))
    _summary_sheet(summary, report, t)
    _units_sheet(units, report, t)
    _history_sheet(history, report, t)
    _charts_sheet(charts, units, bars_of, history, report, t)
    wb.properties.title = " ".join(t.title_lines())
    wb.properties.creator = "commune-pulse"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
