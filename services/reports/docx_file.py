"""The briefing as DOCX (python-docx), in the shape of an administrative report that staff edit before the
meeting: the authority and the national motto side by side, place and date, title, numbered sections, tables,
the two charts as pictures, and the shortfalls as a list. Times New Roman, as administrative documents use."""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt
from docx.table import Table

from services.reports import charts
from services.reports.model import MonthlyReport
from services.reports.texts import Texts

FONT = "Times New Roman"


def _paragraph(
    doc: DocxDocument,
    text: str,
    *,
    bold: bool = False,
    italic: bool = False,
    size: int = 13,
    align: WD_ALIGN_PARAGRAPH | None = None,
) -> None:
    p = doc.add_paragraph()
    run = p.add_run(text)
    run.bold, run.italic, run.font.size = bold, italic, Pt(size)
    if align is not None:
        p.alignment = align


def _table(
    doc: DocxDocument,
    header: list[str],
    rows: list[list[str]],
    widths_cm: list[float],
    size: int = 10,
    bold_rows: Sequence[int] = (),
) -> Table:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(text)
        run.bold, run.font.size = True, Pt(size)
    for i, row in enumerate(rows, start=1):
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = ""
            run = cell.paragraphs[0].add_run(text)
            run.font.size, run.bold = Pt(size), i in bold_rows or None
    for column, width in zip(table.columns, widths_cm, strict=True):
        column.width = Cm(width)  # the grid (LibreOffice reads it) and each cell (Word reads those)
        for cell in column.cells:
            cell.width = Cm(width)
    return table


def render(report: MonthlyReport, t: Texts) -> bytes:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = FONT  # type: ignore[attr-defined]
    style.font.size = Pt(13)  # type: ignore[attr-defined]
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin, section.right_margin = Cm(2.5), Cm(1.5)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)

    head = doc.add_table(rows=1, cols=2)
    left, right = head.rows[0].cells
    left.text = ""
    left.paragraphs[0].add_run(t.authority_lines()[0]).bold = True
    left.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    authority = left.add_paragraph()
    authority.add_run(t.authority_lines()[1]).bold = True
    authority.alignment = WD_ALIGN_PARAGRAPH.CENTER
    right.text = ""
    right.paragraphs[0].add_run(t("nation")).bold = True
    right.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    motto = right.add_paragraph()
    motto.add_run(t("motto")).bold = True
    motto.alignment = WD_ALIGN_PARAGRAPH.CENTER
    local = report.as_of.astimezone(t.tz)
    place = t.district
    for kind in ("huyện ", "tỉnh ", "thành phố ", "thị xã ", "thị trấn ", "xã ", "phường "):
        if place.lower().startswith(kind):  # "Hoằng Hóa, ngày …": the place, without its kind
            place = place[len(kind) :]
            break
    _paragraph(
        doc,
        t("place_date", place=place, d=local.day, m=local.month, y=local.year),
        italic=True,
        align=WD_ALIGN_PARAGRAPH.RIGHT,
    )
    _paragraph(doc, t("title"), bold=True, size=14, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(doc, t("subtitle", month=t.month()), bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(doc, t.unit_set_line(), italic=True, size=11, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(doc, t("as_of", time=t.moment(report.as_of)), italic=True, size=11, align=WD_ALIGN_PARAGRAPH.CENTER)

    def summary(part: str) -> None:
        rows = [list(r) for r in t.summary_rows(part)]
        _table(doc, [t("figure"), t("value"), t("change")], rows, [9, 4, 4], size=11)

    own = report.unit_code is not None
    _paragraph(doc, t("s_summary", district_upper=t.district.upper()), bold=True)
    summary("camera" if own else "all")

    if own:
        _paragraph(doc, t("s_cameras"), bold=True)
        header, *rows = t.camera_table()
        if rows:
            _table(doc, header, rows, [1.3, 4.7, 3.2, 2.2, 3.6, 2.0], size=10)
        else:
            _paragraph(doc, t("no_cameras"))
        _paragraph(doc, t("s_app"), bold=True)
        summary("app")
    else:
        _paragraph(doc, t("s_units"), bold=True)
        header, *rows = t.unit_table()
        # 17 cm of text width: the unit's name gets the room, figures are short.
        bold = t.subtotal_rows() if report.districts else []
        widths = [1.0, 3.2, 1.6, 1.6, 1.5, 1.3, 1.3, 1.6, 1.9, 1.5]
        if report.districts:  # room for "Cộng: Huyện Mường Lát" on one line
            widths = [1.0, 4.2, 1.4, 1.6, 1.4, 1.2, 1.2, 1.5, 1.6, 1.4]
        _table(doc, header, rows, widths, size=9, bold_rows=bold)

        _paragraph(doc, t("s_ranking"), bold=True)
        for key, units in (("top", report.top), ("bottom", report.bottom)):
            ranking_header, *ranking_rows = t.ranking_table(units, t.ranking_title(key))
            _table(doc, ranking_header, ranking_rows, [6, 3, 3], size=10)
            doc.add_paragraph()

    _paragraph(doc, t("s_charts"), bold=True)
    doc.add_picture(io.BytesIO(charts.availability_by_unit(report, t)), width=Cm(16))
    doc.add_picture(io.BytesIO(charts.mau_history(report, t)), width=Cm(16))

    _paragraph(doc, t("s_shortfalls"), bold=True)
    for line in t.shortfall_lines():
        doc.add_paragraph(line, style="List Bullet")
    _paragraph(doc, t("s_windows"), bold=True)
    header, *rows = t.windows_table()
    if rows:
        _paragraph(doc, t("windows_note"), italic=True, size=10)
        _table(doc, header, rows, [1.2, 3.0, 3.8, 1.4, 3.8, 3.8], size=9)
    else:
        _paragraph(doc, t("no_windows"))
    _paragraph(doc, t.audit_line(), size=8)
    doc.core_properties.title = " ".join(t.title_lines())
    doc.core_properties.author = "commune-pulse"
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
