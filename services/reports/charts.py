"""The briefing's two charts as PNG pictures (for the PDF and the DOCX; the XLSX has native charts):
availability by unit, and the district's MAU over 12 months. Matplotlib with its own DejaVu Sans, which has
every Vietnamese letter."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: pictures only
import matplotlib.pyplot as plt

from services.reports.model import MonthlyReport
from services.reports.texts import Texts

_STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=160, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def availability_by_unit(report: MonthlyReport, t: Texts) -> bytes:
    rows = report.units
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        height = max(3.0, 0.17 * len(rows) + 0.9)
        fig, ax = plt.subplots(figsize=(7.0, height))
        values = [(u.availability or 0.0) * 100 for u in rows]
        colors = [
            "#b3261e" if u.availability is not None and u.availability < report.availability_target else "#0b6e4f"
            for u in rows
        ]
        ax.barh([u.name for u in rows], values, color=colors)
        ax.axvline(report.availability_target * 100, color="#4a5360", linestyle="--", linewidth=1)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.set_title(t("chart_availability", month=t.month()), fontsize=10)
        for y, (u, v) in enumerate(zip(rows, values, strict=True)):
            ax.text(min(v, 100) + 0.5, y, t.pct(u.availability), va="center", fontsize=7)
        return _png(fig)


def mau_history(report: MonthlyReport, t: Texts) -> bytes:
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        fig, ax = plt.subplots(figsize=(7.0, 2.8))
        labels = [t.month(m) for m, _ in report.mau_history]
        values = [n for _, n in report.mau_history]
        ax.bar(labels, values, color="#1f5fa8")
        ax.set_title(t("chart_mau", district=t.district), fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        for x, v in enumerate(values):
            ax.text(x, v, t.count(v), ha="center", va="bottom", fontsize=7)
        return _png(fig)
