"""`/api/v1/engagement`: the HoangHoaS figures of SPEC §8 per unit and for the district, with the daily series,
feature use and retention cohorts behind the dashboard's charts."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from services.api.deps import AppSettings, Conn, Now, ReadConn, Reader, conditional, require_unit
from services.api.uptime import UnitSetParam, group_header, readable_groups, unit_names
from services.core import engagement
from services.core.auth import Principal

router = APIRouter(prefix="/api/v1/engagement", tags=["engagement"])
MonthParam = Annotated[str | None, Query(description="YYYY-MM; this month when omitted")]
UnitParam = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="a unit code of unit_set; the district if omitted")
]
MAX_SERIES_DAYS = 400
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(value: str | None, today: date, field: str = "month") -> date:
    if value is None:
        return today.replace(day=1)
    match = _MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{field}: expected a month as YYYY-MM")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _parse_day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{field}: expected a date as YYYY-MM-DD") from None


def _scope(conn: Conn, principal: Principal, view: str, unit: str | None) -> tuple[str, str]:
    """The scope a series is read for: one unit the operator may see, or the district (all units only)."""
    if unit is not None:
        require_unit(principal, view, unit)
        if unit not in unit_names(conn, view):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unit: no unit {unit} in set {view}")
        return view, unit
    if principal.units is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "unit: district figures cover every unit; name one of your units"
        )
    return engagement.DISTRICT, engagement.DISTRICT


@router.get("", summary="Engagement per unit and for the district in one month (SPEC §8)")
def month_engagement(
    principal: Reader,
    request: Request,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    month: MonthParam = None,
    unit_set: UnitSetParam = None,
    group_by: Literal["unit", "district", "province"] = "unit",
) -> Response:
    """`group_by=district|province`: items are former districts (the 2025 set: each unit's former district) or the
    province, each with the distinct subjects of its units (`engagement.group_figures`); listed only to a principal
    who may read every unit of the group."""
    today = now.astimezone(settings.tz).date()
    first = parse_month(month, today)
    view = unit_set or settings.unit_set
    names = unit_names(conn, view)
    per_unit, district = engagement.month_figures(conn, view, first, today)
    if group_by == "unit":
        items = [
            {"unit_code": code, "unit_name": names[code], **per_unit[code].as_item()}
            for code in names
            if principal.can_read_unit(view, code)
        ]
    else:
        _, groups, members = readable_groups(conn, principal, view, group_by)
        per_group = engagement.group_figures(conn, view, first, today, members)
        items = [
            {**group_header(code, groups[code].name, group_by, len(members[code])), **per_group[code].as_item()}
            for code in sorted(groups)
        ]
    body = {
        "month": first.strftime("%Y-%m"),
        "unit_set": view,
        "group_by": group_by,
        "as_of": now.isoformat(),
        "days": district.days,
        # District figures are the district's own distinct subjects; they cover every unit, so an operator
        # scoped to some communes does not get them.
        "district": district.as_item() if principal.units is None else None,
        "items": items,
    }
    return conditional(request, body)


@router.get("/daily", summary="DAU and events per day, and WAU per ISO week, for a unit or the district")
def daily(
    principal: Reader,
    request: Request,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD; 30 days ago when omitted")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD, exclusive; tomorrow when omitted")] = None,
    unit_set: UnitSetParam = None,
    unit: UnitParam = None,
) -> Response:
    today = now.astimezone(settings.tz).date()
    end = _parse_day(to, "to") if to else today + timedelta(days=1)
    start = _parse_day(from_, "from") if from_ else end - timedelta(days=30)
    if end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to: must be after from")
    if (end - start).days > MAX_SERIES_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"to: at most {MAX_SERIES_DAYS} days")
    view = unit_set or settings.unit_set
    scope = _scope(conn, principal, view, unit)
    body = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "unit_set": view,
        "unit_code": unit,
        "items": engagement.daily_series(conn, scope, start, end),
        "weeks": engagement.weekly_active(conn, scope, start, end),
    }
    return conditional(request, body)


@router.get("/features", summary="Events and distinct subjects per event name in a month")
def features(
    principal: Reader,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    month: MonthParam = None,
    unit_set: UnitSetParam = None,
    unit: UnitParam = None,
) -> dict:
    first = parse_month(month, now.astimezone(settings.tz).date())
    view = unit_set or settings.unit_set
    scope = _scope(conn, principal, view, unit)
    return {
        "month": first.strftime("%Y-%m"),
        "unit_set": view,
        "unit_code": unit,
        "items": engagement.feature_use(conn, scope, first),
    }


@router.get("/retention", summary="Monthly retention cohorts: each month's new subjects, active in later months")
def retention(
    principal: Reader,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    from_: Annotated[str | None, Query(alias="from", description="first cohort, YYYY-MM; 11 months back")] = None,
    to: Annotated[str | None, Query(description="last month, YYYY-MM; this month when omitted")] = None,
    unit_set: UnitSetParam = None,
    unit: UnitParam = None,
) -> dict:
    today = now.astimezone(settings.tz).date()
    last = parse_month(to, today, "to")
    first = parse_month(from_, today, "from") if from_ else date(last.year - (last.month < 12), last.month % 12 + 1, 1)
    if first > last:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "to: must not be before from")
    if (last.year - first.year) * 12 + last.month - first.month >= 36:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "from: at most 36 months of cohorts")
    view = unit_set or settings.unit_set
    scope = _scope(conn, principal, view, unit)
    return {
        "from": first.strftime("%Y-%m"),
        "to": last.strftime("%Y-%m"),
        "unit_set": view,
        "unit_code": unit,
        "items": engagement.retention(conn, scope, first, last),
    }
