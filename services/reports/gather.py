"""Reading the monthly briefing's figures from the database (the rules are in `model.py` and the modules it
names): uptime through `camera_state.unit_uptime` (and `regroup` for a district's subtotal), engagement through
`engagement.month_figures` (and `group_figures`), a unit's cameras through `camera_state.window_seconds` — the
same code as `/uptime` and `/engagement`, so the report and the dashboard never disagree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, time
from statistics import mean
from typing import Any, Literal

from services.core import camera_state, engagement, maintenance, units, uptime
from services.core.db import DbConn
from services.core.settings import Settings
from services.reports.model import CameraLine, DistrictRow, MonthlyReport, Summary, UnitRow, WindowLine

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


def _uptime(conn: DbConn, month: date, now: datetime, settings: Settings, view: str) -> camera_state.UnitUptime:
    start, end = _month_window(month, now, settings)
    if end <= start:
        return camera_state.UnitUptime({}, {})
    return camera_state.unit_uptime(conn, start, end, view_set=view, camera_ids=None, tz=settings.tz)


def _incidents(conn: DbConn, month: date, now: datetime, settings: Settings, view: str) -> tuple[dict, dict, dict]:
    """Incidents opened in the month per unit of the view, the restore times (s) of those that recovered per unit,
    and the incidents per camera."""
    start, end = _month_window(month, now, settings)
    mapping = units.load_mapping(conn)
    per_unit: dict[str | None, int] = defaultdict(int)
    per_camera: dict[str, int] = defaultdict(int)
    restore: dict[str | None, list[float]] = defaultdict(list)
    rows = conn.execute(
        "SELECT unit_set, unit_code, camera_ids, opened_at, resolved_at, resolution FROM incidents"
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
        for camera_id in r["camera_ids"] or []:
            per_camera[camera_id] += 1
        if r["resolution"] == "recovered" and r["resolved_at"] is not None and r["resolved_at"] <= now:
            restore[code].append((r["resolved_at"] - r["opened_at"]).total_seconds())
    return per_unit, restore, per_camera


def _windows(
    conn: DbConn, month: date, now: datetime, settings: Settings, view: str, unit: str | None
) -> list[WindowLine]:
    """The maintenance windows in force during the month (up to `now`), of the whole fleet or, for a unit's own
    briefing, those that apply to its cameras (on them, on it or a unit mapped to or from it, or everywhere)."""
    start, end = _month_window(month, now, settings)
    if end <= start:
        return []
    mapping = units.load_mapping(conn)
    names = {(r["unit_set"], r["code"]): r["name"] for r in conn.execute("SELECT unit_set, code, name FROM units")}
    out = []
    for row in maintenance.list_windows(conn):
        parts = maintenance.window_of(row).intervals(start, end, settings.tz)
        shaped = maintenance.units_shaped(row, mapping)
        if not parts or not (unit is None or shaped is None or _shapes(shaped, (view, unit), mapping)):
            continue
        scope: Literal["camera", "unit", "all"] = "all"
        target = ""
        if row["camera_id"] is not None:
            scope, target = "camera", row["camera_id"]
        elif row["unit_code"] is not None:
            scope, target = "unit", names.get((row["unit_set"], row["unit_code"]), row["unit_code"])
        out.append(
            WindowLine(
                window_id=row["window_id"],
                scope=scope,
                target=target,
                starts_at=row["starts_at"],
                ends_at=row["ends_at"],
                weekdays=list(row["weekdays"] or []),
                local_start=row["local_start"].strftime("%H:%M") if row["local_start"] else None,
                local_end=row["local_end"].strftime("%H:%M") if row["local_end"] else None,
                hours=sum((b - a).total_seconds() for a, b in parts) / 3600,
                created_by=row["created_by"],
                created_at=row["created_at"],
                set_afterwards=row["created_at"] > parts[0][0],
                reason=row["reason"],
            )
        )
    return out


def _shapes(shaped: list[tuple[str, str]], unit: tuple[str, str], mapping: dict) -> bool:
    return any(u == unit or mapping.get(u) == unit or mapping.get(unit) == u for u in shaped)


def _audit_head(conn: DbConn) -> str:
    row = conn.execute("SELECT hash FROM audit_head").fetchone()
    return row["hash"] if row else ""


def _targets(conn: DbConn, view: str, default: float | None) -> dict[str, float | None]:
    rows = conn.execute("SELECT unit_code, adoption_target FROM unit_targets WHERE unit_set = %s", (view,)).fetchall()
    own = {r["unit_code"]: r["adoption_target"] for r in rows}
    return defaultdict(lambda: default, own)


def _history(conn: DbConn, month: date, scope: tuple[str, str]) -> list[tuple[date, int]]:
    first = month
    for _ in range(11):
        first = previous_month(first)
    return engagement.district_mau_by_month(conn, first, month, scope=scope)


def _avail(table: dict, code: Any) -> float | None:
    return uptime.figures(table[code]).availability if code in table else None


def _districts(
    conn: DbConn, *, view: str, month: date, today: date, rows: list[UnitRow], now_up: Any, prev_up: Any
) -> tuple[list[DistrictRow], dict[str, units.GroupOf | None]]:
    """Each unit's district and, when the units span more than one, a subtotal per district (as `/uptime` and
    `/engagement` with `group_by=district` compute them)."""
    of = units.groups_of(conn, view, "district")
    members: dict[str, list[str]] = defaultdict(list)
    names: dict[str, str] = {}
    for code, group in of.items():
        if group is not None:
            members[group.code].append(code)
            names[group.code] = group.name
    if len(members) < 2:
        return [], of
    group_of = {code: group.code if group else None for code, group in of.items()}
    seconds = camera_state.regroup(now_up, group_of)
    seconds_prev = camera_state.regroup(prev_up, group_of)
    figures = engagement.group_figures(conn, view, month, today, dict(members))
    figures_prev = engagement.group_figures(conn, view, previous_month(month), today, dict(members))
    by_code = {r.code: r for r in rows}
    out = [
        DistrictRow(
            code=g,
            name=names[g],
            units=len(codes),
            cameras=seconds.cameras.get(g, 0),
            availability=_avail(seconds.seconds, g),
            availability_prev=_avail(seconds_prev.seconds, g),
            incidents=sum(by_code[c].incidents for c in codes),
            mau=figures[g].mau,
            mau_prev=figures_prev[g].mau,
            population=figures[g].population,
            adoption=figures[g].adoption,
            new=figures[g].new,
            feedback=figures[g].feedback_submitted,
        )
        for g, codes in sorted(members.items())
    ]
    return out, of


def _province_name(conn: DbConn, view: str) -> str | None:
    row = conn.execute(
        "SELECT name FROM unit_groups WHERE unit_set = %s AND level = 'province' ORDER BY code LIMIT 1", (view,)
    ).fetchone()
    if row is None:
        return None
    name = row["name"]
    return name if name.lower().startswith(("tỉnh", "thành phố")) else f"tỉnh {name}"


def gather(
    conn: DbConn, settings: Settings, *, month: date, unit_set: str, now: datetime, unit: str | None = None
) -> MonthlyReport:
    """The briefing of a unit set (with subtotals per district when its units span several), or with `unit` the
    briefing of that one unit: its figures, its cameras, its own shortfalls."""
    month = month.replace(day=1)
    prev = previous_month(month)
    today = now.astimezone(settings.tz).date()
    listed = units.list_units(conn, unit_set)
    if not listed:
        raise LookupError(f"unit_set: no unit set {unit_set}")
    names = {r["code"]: r["name"] for r in listed}
    if unit is not None and unit not in names:
        raise LookupError(f"unit: no unit {unit} in set {unit_set}")
    now_up = _uptime(conn, month, now, settings, unit_set)
    prev_up = _uptime(conn, prev, now, settings, unit_set)
    seconds, cameras, seconds_prev = now_up.seconds, now_up.cameras, prev_up.seconds
    per_unit, district = engagement.month_figures(conn, unit_set, month, today)
    per_unit_prev, district_prev = engagement.month_figures(conn, unit_set, prev, today)
    incidents, restore, camera_incidents = _incidents(conn, month, now, settings, unit_set)
    targets = _targets(conn, unit_set, settings.report_adoption_target)

    rows = [
        UnitRow(
            code=code,
            name=name,
            cameras=cameras.get(code, 0),
            availability=_avail(seconds, code),
            availability_prev=_avail(seconds_prev, code),
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
    common: dict[str, Any] = {
        "month": month,
        "unit_set": unit_set,
        "as_of": now,
        "timezone": settings.timezone,
        "availability_target": settings.report_availability_target,
        "windows": _windows(conn, month, now, settings, unit_set, unit),
        "audit_head": _audit_head(conn),
    }
    if unit is not None:
        return _unit_report(
            conn, settings, common, next(r for r in rows if r.code == unit), listed, restore, camera_incidents, now
        )
    districts, of = _districts(conn, view=unit_set, month=month, today=today, rows=rows, now_up=now_up, prev_up=prev_up)
    if districts:
        rows = [replace(r, district_code=g.code, district_name=g.name) if (g := of.get(r.code)) else r for r in rows]
        rows.sort(key=lambda r: (r.district_code is None, r.district_code or "", r.code))
    all_restore = [s for times in restore.values() for s in times]
    summary = Summary(
        cameras=sum(cameras.values()),
        availability=uptime.figures(uptime.sum_seconds(seconds.values())).availability,
        availability_prev=uptime.figures(uptime.sum_seconds(seconds_prev.values())).availability,
        incidents=sum(incidents.values()),
        mttr_s=mean(all_restore) if all_restore else None,
        mau=district.mau,
        mau_prev=district_prev.mau,
        population=district.population,
        adoption=district.adoption,
        new=district.new,
        feedback=district.feedback_submitted,
    )
    title = (_province_name(conn, unit_set) if len(districts) > 1 else None) or settings.district_name
    return MonthlyReport(
        **common,
        district_name=title,
        summary=summary,
        units=rows,
        mau_history=_history(conn, month, (engagement.DISTRICT, engagement.DISTRICT)),
        districts=districts,
    )


def _unit_report(
    conn: DbConn,
    settings: Settings,
    common: dict[str, Any],
    row: UnitRow,
    listed: list[dict],
    restore: dict,
    camera_incidents: dict[str, int],
    now: datetime,
) -> MonthlyReport:
    """A unit's own briefing: its row as the summary, each of its cameras over the month (as `/uptime`
    `group_by=camera` gives them)."""
    month: date = common["month"]
    start, end = _month_window(month, now, settings)
    cams = [c for c in camera_state.snapshots(conn, view_set=common["unit_set"]) if c.view_code == row.code]
    per_camera = camera_state.window_seconds(conn, cams, start, end, tz=settings.tz) if end > start else {}
    lines = [
        CameraLine(
            camera_id=c.camera_id,
            name=c.name or c.camera_id,
            availability=uptime.figures(per_camera[c.camera_id]).availability,
            down_s=per_camera[c.camera_id]["down"],
            incidents=camera_incidents.get(c.camera_id, 0),
        )
        for c in sorted(cams, key=lambda c: c.camera_id)
        if c.camera_id in per_camera
    ]
    times = restore.get(row.code, [])
    summary = Summary(
        cameras=row.cameras,
        availability=row.availability,
        availability_prev=row.availability_prev,
        incidents=row.incidents,
        mttr_s=mean(times) if times else None,
        mau=row.mau,
        mau_prev=row.mau_prev,
        population=row.population,
        adoption=row.adoption,
        new=row.new,
        feedback=row.feedback,
    )
    kind = next(u["kind"] for u in listed if u["code"] == row.code)
    return MonthlyReport(
        **common,
        district_name=f"{kind} {row.name}",
        summary=summary,
        units=[row],
        mau_history=_history(conn, month, (common["unit_set"], row.code)),
        unit_code=row.code,
        cameras=lines,
    )
