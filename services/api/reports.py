"""`/api/v1/reports`: the monthly briefing (SPEC §9) as a download — read now, or a kept one re-issued with the
figures it had."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from services.api.deps import AppSettings, Now, ReadConn, Reader
from services.api.engagement import parse_month
from services.api.uptime import UnitSetParam
from services.reports import FORMATS, filename, issue, render
from services.reports.gather import gather, previous_month
from services.reports.model import MonthlyReport

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Format = Literal["xlsx", "pdf", "docx", "csv"]
Lang = Literal["vi", "en"]


def _file(report: MonthlyReport, fmt: str, lang: str) -> Response:
    name = filename(report, fmt, lang)
    return Response(
        render(report, fmt, lang),
        media_type=FORMATS[fmt][1],
        headers={"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"},
    )


def _own_unit_or_all(principal: Reader, view: str, unit: str | None) -> None:
    """A unit's own briefing to whom may read that unit (its commune operator, its district's); a whole set's to
    admin and viewer only."""
    if unit is None:
        _district_only(principal)
    elif not principal.can_read_unit(view, unit):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"unit: {unit} of set {view} is not one of your units")


def _district_only(principal: Reader) -> None:
    if principal.units is not None:
        # The briefing covers the whole district (district figures, rankings across every unit).
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the monthly report covers every unit: admin or viewer only")


@router.get(
    "/monthly",
    summary="The monthly briefing (of a unit set, or with `unit` of one unit), read now, as XLSX, PDF, DOCX or CSV",
    response_class=Response,
    responses={200: {"content": {FORMATS[f][1]: {} for f in FORMATS}}},
)
def monthly(
    principal: Reader,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    month: Annotated[str | None, Query(description="YYYY-MM; last month when omitted")] = None,
    format_: Annotated[Format, Query(alias="format")] = "xlsx",
    unit_set: UnitSetParam = None,
    unit: Annotated[
        str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="one unit's own briefing (its cameras)")
    ] = None,
    lang: Lang = "vi",
) -> Response:
    view = unit_set or settings.unit_set
    _own_unit_or_all(principal, view, unit)
    today = now.astimezone(settings.tz).date()
    first = parse_month(month, today) if month else previous_month(today.replace(day=1))
    if first > today:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "month: must not be in the future")
    try:
        report = gather(conn, settings, month=first, unit_set=view, now=now, unit=unit)
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return _file(report, format_, lang)


@router.get("", summary="Reports kept (by the monthly schedule or on request), newest first")
def kept(principal: Reader, conn: ReadConn) -> dict:
    _district_only(principal)
    return {"items": issue.list_kept(conn)}


@router.get(
    "/{report_id}",
    summary="A kept report again, with the figures it had when it was issued",
    response_class=Response,
    responses={200: {"content": {FORMATS[f][1]: {} for f in FORMATS}}, 404: {"description": "no such report"}},
)
def kept_file(
    principal: Reader,
    conn: ReadConn,
    report_id: Annotated[int, Path(ge=1)],
    format_: Annotated[Format, Query(alias="format")] = "pdf",
) -> Response:
    _district_only(principal)
    found = issue.kept(conn, report_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report {report_id}")
    report, lang = found
    return _file(report, format_, lang)
