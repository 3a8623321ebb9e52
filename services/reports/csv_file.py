"""The briefing as CSV: UTF-8 with a byte-order mark (so Excel shows the diacritics), one row per unit and one
for the district, fractions as decimals (0.9512) with a point; the last line says when the data was read.

The column `row` says what a row is: `unit`, `subtotal` (a district's, after its units, with `district_code` and
`district_name` and no unit code), `total` (unit code `*`), or `camera` (a unit's own briefing: one per camera,
with `camera_id`, `camera_name` and its time down `down_s`). Columns only ever get added at the end."""

from __future__ import annotations

import csv
import io

from services.reports.model import DistrictRow, MonthlyReport, UnitRow
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
    "district_code",
    "district_name",
    "row",
    "camera_id",
    "camera_name",
    "down_s",
)


def _num(value: float | int | None, digits: int = 6) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _line(u: UnitRow | DistrictRow, t: Texts) -> list[object]:
    unit = isinstance(u, UnitRow)
    return [
        u.code if unit else "",
        u.name if unit else t.line_label(u),
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
        _num(u.adoption_target) if isinstance(u, UnitRow) else "",
        u.new,
        u.feedback,
        (u.district_code or "") if isinstance(u, UnitRow) else u.code,
        (u.district_name or "") if isinstance(u, UnitRow) else u.name,
        "unit" if unit else "subtotal",
        "",
        "",
        "",
    ]


def render(report: MonthlyReport, t: Texts) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in report.lines():
        writer.writerow(_line(line, t))
    if report.unit_code is not None:
        for c in report.cameras:
            head = [report.unit_code, report.units[0].name, "", _num(c.availability), "", "", c.incidents]
            tail = ["camera", c.camera_id, c.name, _num(c.down_s)]
            writer.writerow(head + [""] * (len(COLUMNS) - len(head) - len(tail)) + tail)
    else:
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
                "",
                "",
                "total",
                "",
                "",
                "",
            ]
        )
    writer.writerow([t("as_of", time=t.moment(report.as_of))])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
