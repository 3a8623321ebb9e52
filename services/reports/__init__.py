"""The monthly briefing (SPEC §9): figures (`model.py`, `gather.py`) and the four formats."""

from __future__ import annotations

from collections.abc import Callable

from services.reports import csv_file, docx_file, pdf_file, xlsx_file
from services.reports.model import MonthlyReport
from services.reports.texts import Texts

FORMATS: dict[str, tuple[Callable[[MonthlyReport, Texts], bytes], str]] = {
    "xlsx": (xlsx_file.render, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pdf": (pdf_file.render, "application/pdf"),
    "docx": (docx_file.render, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "csv": (csv_file.render, "text/csv; charset=utf-8"),
}


def render(report: MonthlyReport, fmt: str, lang: str = "vi") -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}")
    return FORMATS[fmt][0](report, Texts(report, lang))


def filename(report: MonthlyReport, fmt: str, lang: str = "vi") -> str:
    stem = "bao-cao-thang" if lang == "vi" else "monthly-report"
    unit = f"-{report.unit_code}" if report.unit_code else ""
    return f"{stem}-{report.month:%Y-%m}-{report.unit_set}{unit}.{fmt}"
