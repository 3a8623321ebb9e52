"""The briefing as PDF for printing (reportlab): A4, DejaVu Sans embedded (the font matplotlib ships, so it is
there wherever the product is installed), text that `pdftotext` extracts with its diacritics, tables that fit
the page width, the two charts as pictures."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from functools import cache

import matplotlib
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.reports import charts
from services.reports.model import MonthlyReport
from services.reports.texts import Texts

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
# Tables that only lay out other flowables still set a font per cell: the embedded one, not reportlab's Helvetica
# (which would be declared in the file without being embedded).
LAYOUT = [("FONTNAME", (0, 0), (-1, -1), FONT)]
SUBTOTAL = colors.HexColor("#eef2f6")


@cache
def _fonts() -> None:
    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    pdfmetrics.registerFont(TTFont(FONT, os.path.join(folder, "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, os.path.join(folder, "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=10, leading=13)
    return {
        "base": base,
        "center": ParagraphStyle("center", parent=base, alignment=TA_CENTER),
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=14, leading=18, alignment=TA_CENTER),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontName=BOLD, fontSize=11, alignment=TA_CENTER),
        "section": ParagraphStyle("section", parent=base, fontName=BOLD, fontSize=11, spaceBefore=10, spaceAfter=4),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10),
    }


def _table(
    rows: list[list], widths: list[float], size: float = 8.5, bold_rows: Sequence[int] = (), numbers_from: int = 2
) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    emphasis = [
        style
        for row in bold_rows
        for style in (("FONTNAME", (0, row), (-1, row), BOLD), ("BACKGROUND", (0, row), (-1, row), SUBTOTAL))
    ]
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTNAME", (0, 0), (-1, 0), BOLD),
                ("FONTSIZE", (0, 0), (-1, -1), size),
                ("LEADING", (0, 0), (-1, -1), size + 2),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#8893a0")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (numbers_from, 1), (-1, -1), "RIGHT"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                *emphasis,
            ]
        )
    )
    return table


def _picture(png: bytes, width: float) -> Image:
    image = Image(io.BytesIO(png))
    image.drawHeight = width * image.imageHeight / image.imageWidth
    image.drawWidth = width
    return image


def render(report: MonthlyReport, t: Texts) -> bytes:
    _fonts()
    st = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.8 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=" ".join(t.title_lines()),
        initialFontName=FONT,  # not reportlab's Helvetica, which would be declared without being embedded
        author="commune-pulse",
    )
    width = doc.width
    head = Table(
        [
            [
                Paragraph("<br/>".join(f"<b>{line}</b>" for line in t.authority_lines()), st["center"]),
                Paragraph(f"<b>{t('nation')}</b><br/><b>{t('motto')}</b>", st["center"]),
            ]
        ],
        colWidths=[width * 0.45, width * 0.55],
        style=LAYOUT,
    )
    story: list = [head, Spacer(1, 10)]
    story += [Paragraph(line, st["title"] if i == 0 else st["subtitle"]) for i, line in enumerate(t.title_lines())]
    story += [
        Paragraph(t.unit_set_line(), st["center"]),
        Paragraph(t("as_of", time=t.moment(report.as_of)), st["center"]),
    ]

    def summary(part: str) -> Table:
        rows = [[t("figure"), t("value"), t("change")], *[list(r) for r in t.summary_rows(part)]]
        return _table(rows, [width * 0.5, width * 0.22, width * 0.28], size=9)

    own = report.unit_code is not None
    story.append(Paragraph(t("s_summary", district_upper=t.district.upper()), st["section"]))
    story.append(summary("camera" if own else "all"))

    if own:
        story.append(Paragraph(t("s_cameras"), st["section"]))
        header, *rows = t.camera_table()
        if rows:
            fractions = [0.07, 0.33, 0.18, 0.13, 0.19, 0.1]
            cells = [[Paragraph(h, st["small"]) for h in header], *rows]
            story.append(_table(cells, [width * f for f in fractions], 8.5, numbers_from=3))
        else:
            story.append(Paragraph(t("no_cameras"), st["base"]))
        story.append(Paragraph(t("s_app"), st["section"]))
        story.append(summary("app"))
    else:
        story.append(Paragraph(t("s_units"), st["section"]))
        header, *rows = t.unit_table()
        fractions = (
            [0.06, 0.24, 0.09, 0.1, 0.09, 0.07, 0.07, 0.09, 0.1, 0.09]  # room for "Cộng: <district>"
            if report.districts
            else [0.06, 0.2, 0.09, 0.1, 0.1, 0.08, 0.08, 0.1, 0.11, 0.08]
        )
        widths = [width * f for f in fractions]
        cells = [[Paragraph(h, st["small"]) for h in header], *rows]
        story.append(_table(cells, widths, 7.5, bold_rows=t.subtotal_rows() if report.districts else []))

        story.append(Paragraph(t("s_ranking"), st["section"]))
        ranking = [
            _table(t.ranking_table(units, t.ranking_title(key)), [width * 0.24, width * 0.12, width * 0.1])
            for key, units in (("top", report.top), ("bottom", report.bottom))
        ]
        story.append(Table([ranking], colWidths=[width / 2, width / 2], style=LAYOUT))

    chart = _picture(charts.availability_by_unit(report, t), width * 0.85)
    story.append(KeepTogether([Paragraph(t("s_charts"), st["section"]), chart]))
    story.append(_picture(charts.mau_history(report, t), width * 0.85))

    story.append(
        KeepTogether(
            [
                Paragraph(t("s_shortfalls"), st["section"]),
                *[Paragraph("• " + line, st["base"]) for line in t.shortfall_lines()],
            ]
        )
    )
    story.append(Paragraph(t("s_windows"), st["section"]))
    header, *rows = t.windows_table()
    if rows:
        story.append(Paragraph(t("windows_note"), st["small"]))
        story.append(Spacer(1, 3))
        cells = [[Paragraph(text, st["small"]) for text in row] for row in (header, *rows)]
        fractions = [0.065, 0.16, 0.25, 0.075, 0.22, 0.23]
        story.append(_table(cells, [width * f for f in fractions], 8, numbers_from=6))
    else:
        story.append(Paragraph(t("no_windows"), st["base"]))
    story.append(Spacer(1, 8))
    story.append(Paragraph(t.audit_line(), st["small"]))
    doc.build(story)
    return buffer.getvalue()
