"""The briefing as CSV: UTF-8 with a byte-order mark (so Excel shows the diacritics), one row per unit and one
for the district, fractions as decimals (0.9512) with a point; the last line says when the data was read."""

from __future__ import annotations

import csv
import io

from services.reports.model import MonthlyReport
from services.reports.texts import Texts

COLUMNS = (
    "unit_code",
    "unit_name",
    "cameras",
    "availability",
    "availability_prev",
    "availability_change",
    "incidents",
    "mau",
    "mau_prev",
    "mau_change",
    "population",
    "adoption",
    "adoption_target",
    "new",
    "feedback",
)


def _num(value: float | int | None, digits: int = 6) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def render(report: MonthlyReport, t: Texts) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for u in report.units:
        writer.writerow(
            [
                u.code,
                u.name,
                u.cameras,
                _num(u.availability),
                _num(u.availability_prev),
                _num(u.availability_change),
                u.incidents,
                u.mau,
                u.mau_prev,
                _num(u.mau_change),
                _num(u.population),
                _num(u.adoption),
                _num(u.adoption_target),
                u.new,
                u.feedback,
            ]
        )
    s = report.summary
    writer.writerow(
        [
            "*",
            t("district_row", district=t.district),
            s.cameras,
            _num(s.availability),
            _num(s.availability_prev),
            _num(s.availability_change),
            s.incidents,
            s.mau,
            s.mau_prev,
            _num(s.mau_change),
            _num(s.population),
            _num(s.adoption),
            "",
            s.new,
            s.feedback,
        ]
    )
    writer.writerow([t("as_of", time=t.moment(report.as_of))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
