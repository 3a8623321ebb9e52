"""Reading the monthly briefing's figures from the database (the rules are in `model.py` and the modules it
names): uptime through `camera_state.unit_uptime`, engagement through `engagement.month_figures` — the same code
as `/uptime` and `/engagement`, so the report and the dashboard never disagree."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from statistics import mean
from typing import Any

from services.core import camera_state, engagement, units, uptime
from services.core.db import DbConn
from services.core.settings import Settings
from services.reports.model import MonthlyReport, Summary, UnitRow

# Incidents about the camera network (pipeline incidents are about the system).
_CAMERA_KINDS = ("camera_down", "camera_degraded", "commune_outage", "gateway_down")


def previous_month(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def _local_midnight(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, time(0), tzinfo=settings.tz)


def _month_window(month: date, now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    start = _local_midnight(month, settings)
    end = _local_midnight(engagement.next_month(month), settings)
    return start, min(end, now)


def _uptime(conn: DbConn, month: date, now: datetime, settings: Settings, view: str) -> tuple[dict, dict]:
    start, end = _month_window(month, now, settings)
    if end <= start:
        return {}, {}
    result = camera_state.unit_uptime(conn, start, end, view_set=view, camera_ids=None, tz=settings.tz)
    return result.seconds, result.cameras


def _incidents(conn: DbConn, month: date, now: datetime, settings: Settings, view: str) -> tuple[dict, list]:
    """Incidents opened in the month per unit of the view, and the restore times (s) of those that recovered."""
    start, end = _month_window(month, now, settings)
    mapping = units.load_mapping(conn)
    per_unit: dict[str | None, int] = defaultdict(int)
    restore: list[float] = []
    rows = conn.execute(
        "SELECT unit_set, unit_code, opened_at, resolved_at, resolution FROM incidents"
        " WHERE opened_at >= %s AND opened_at < %s AND kind = ANY(%s) AND resolution IS DISTINCT FROM 'merged'",
        (start, end, list(_CAMERA_KINDS)),
    ).fetchall()
    for r in rows:
        unit = (r["unit_set"], r["unit_code"])
        if r["unit_set"] == view:
            code = r["unit_code"]
        else:
            mapped = mapping.get(unit)
            code = mapped[1] if mapped and mapped[0] == view else None
        per_unit[code] += 1
        if r["resolution"] == "recovered" and r["resolved_at"] is not None and r["resolved_at"] <= now:
            restore.append((r["resolved_at"] - r["opened_at"]).total_seconds())
    return per_unit, restore


def _targets(conn: DbConn, view: str, default: float | None) -> dict[str, float | None]:
    rows = conn.execute("SELECT unit_code, adoption_target FROM unit_targets WHERE unit_set = %s", (view,)).fetchall()
    own = {r["unit_code"]: r["adoption_target"] for r in rows}
    return defaultdict(lambda: default, own)


def gather(conn: DbConn, settings: Settings, *, month: date, unit_set: str, now: datetime) -> MonthlyReport:
    month = month.replace(day=1)
    prev = previous_month(month)
    today = now.astimezone(settings.tz).date()
    names = {r["code"]: r["name"] for r in units.list_units(conn, unit_set)}
    if not names:
        raise LookupError(f"unit_set: no unit set {unit_set}")
    seconds, cameras = _uptime(conn, month, now, settings, unit_set)
    seconds_prev, _ = _uptime(conn, prev, now, settings, unit_set)
    per_unit, district = engagement.month_figures(conn, unit_set, month, today)
    per_unit_prev, district_prev = engagement.month_figures(conn, unit_set, prev, today)
    incidents, restore = _incidents(conn, month, now, settings, unit_set)
    targets = _targets(conn, unit_set, settings.report_adoption_target)

    def avail(table: dict, code: Any) -> float | None:
        return uptime.figures(table[code]).availability if code in table else None

    rows = [
        UnitRow(
            code=code,
            name=name,
            cameras=cameras.get(code, 0),
            availability=avail(seconds, code),
            availability_prev=avail(seconds_prev, code),
            incidents=incidents.get(code, 0),
            mau=per_unit[code].mau,
            mau_prev=per_unit_prev[code].mau,
            population=per_unit[code].population,
            adoption=per_unit[code].adoption,
            adoption_target=targets[code],
            new=per_unit[code].new,
            feedback=per_unit[code].feedback_submitted,
        )
        for code, name in names.items()
    ]
    summary = Summary(
        cameras=sum(cameras.values()),
        availability=uptime.figures(uptime.sum_seconds(seconds.values())).availability,
        availability_prev=uptime.figures(uptime.sum_seconds(seconds_prev.values())).availability,
        incidents=sum(incidents.values()),
        mttr_s=mean(restore) if restore else None,
        mau=district.mau,
        mau_prev=district_prev.mau,
        population=district.population,
        adoption=district.adoption,
        new=district.new,
        feedback=district.feedback_submitted,
    )
    first = month
    for _ in range(11):
        first = previous_month(first)
    history = engagement.district_mau_by_month(conn, first, month)
    return MonthlyReport(
        month=month,
        unit_set=unit_set,
        district_name=settings.district_name,
        as_of=now,
        timezone=settings.timezone,
        availability_target=settings.report_availability_target,
        summary=summary,
        units=rows,
        mau_history=history,
    )
