"""The briefing as PDF for printing (reportlab): A4, DejaVu Sans embedded (the font matplotlib ships, so it is
there wherever the product is installed), text that `pdftotext` extracts with its diacritics, tables that fit
the page width, the two charts as pictures."""

from __future__ import annotations

import io
import os
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


def _table(rows: list[list[str]], widths: list[float], size: float = 8.5) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
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
                ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
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

    story.append(Paragraph(t("s_summary", district_upper=t.district.upper()), st["section"]))
    story.append(
        _table(
            [[t("figure"), t("value"), t("change")], *[list(r) for r in t.summary_rows()]],
            [width * 0.5, width * 0.22, width * 0.28],
            size=9,
        )
    )

    story.append(Paragraph(t("s_units"), st["section"]))
    header, *rows = t.unit_table()
    fractions = [0.06, 0.2, 0.09, 0.1, 0.1, 0.08, 0.08, 0.1, 0.11, 0.08]
    story.append(_table([[Paragraph(h, st["small"]) for h in header], *rows], [width * f for f in fractions], 7.5))

    story.append(Paragraph(t("s_ranking"), st["section"]))
    ranking = [
        _table(t.ranking_table(units, title), [width * 0.22, width * 0.12, width * 0.12])
        for title, units in ((t("top"), report.top), (t("bottom"), report.bottom))
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
    doc.build(story)
    return buffer.getvalue()
