"""The briefing's two charts as PNG pictures (for the PDF and the DOCX; the XLSX has native charts):
availability by unit (by district in a report over several — 166 bars would not read — and by camera in a unit's
own briefing), and the MAU over 12 months. Matplotlib with its own DejaVu Sans, which has
every Vietnamese letter."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: pictures only
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

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


def _bars(report: MonthlyReport, t: Texts) -> tuple[str, list[tuple[str, float | None]]]:
    if report.unit_code is not None:
        return "chart_availability_camera", [(c.name, c.availability) for c in report.cameras]
    if report.districts:  # those with cameras: 26 mostly empty rows would hide the few that say something
        rows: list[tuple[str, float | None]] = [
            (d.name, d.availability) for d in report.districts if d.availability is not None
        ]
        return "chart_availability_district", rows
    return "chart_availability", [(u.name, u.availability) for u in report.units]


def availability_by_unit(report: MonthlyReport, t: Texts) -> bytes:
    title, rows = _bars(report, t)
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        height = max(1.8, 0.17 * len(rows) + 0.9)
        fig, ax = plt.subplots(figsize=(7.0, height))
        values = [(a or 0.0) * 100 for _, a in rows]
        colors = ["#b3261e" if a is not None and a < report.availability_target else "#0b6e4f" for _, a in rows]
        ax.barh([name for name, _ in rows], values, color=colors)
        ax.axvline(report.availability_target * 100, color="#4a5360", linestyle="--", linewidth=1)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.set_title(t(title, month=t.month()), fontsize=10)
        for y, ((_, a), v) in enumerate(zip(rows, values, strict=True)):
            ax.text(min(v, 100) + 0.5, y, t.pct(a), va="center", fontsize=7)
        return _png(fig)


def mau_history(report: MonthlyReport, t: Texts) -> bytes:
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        fig, ax = plt.subplots(figsize=(7.0, 2.8))
        labels = [t.month(m) for m, _ in report.mau_history]
        values = [n for _, n in report.mau_history]
        ax.bar(labels, values, color="#1f5fa8")
        ax.set_title(t("chart_mau", district=t.district), fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # people: no 0.2 of a user on a xã's small axis
        for x, v in enumerate(values):
            ax.text(x, v, t.count(v), ha="center", va="bottom", fontsize=7)
        return _png(fig)
