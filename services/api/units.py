"""`/api/v1/units`: the administrative units an operator may see, and their operator-entered population."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from services.api.deps import (
    FREE_TEXT,
    ActingConn,
    AdminOnly,
    AppSettings,
    Live,
    Now,
    ReadConn,
    Reader,
    conditional,
    on_this_connection,
    require_unit,
)
from services.core import unit_places, units, uptime

router = APIRouter(prefix="/api/v1/units", tags=["units"])
UnitSetParam = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="a unit set, e.g. 2024, 2025-01 or 2025")
]
CodePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


def _item(row: dict) -> dict:
    return {
        "unit_code": row["code"],
        "unit_name": row["name"],
        "kind": row["kind"],
        "group_code": row["group_code"],
        "group_name": row["group_name"],
        "former_district_code": row["former_district_code"],
        "former_district_name": row["former_district_name"],
        "population": row["population"],
        "households": row["households"],
        "population_note": row["population_note"],
    }


@router.get("", summary="Units you may see, with cameras by live state and availability today and this month")
def list_units(
    principal: Reader,
    request: Request,
    conn: ReadConn,
    settings: AppSettings,
    now: Now,
    live: Live,
    unit_set: UnitSetParam = None,
) -> Response:
    """Live counts at `now` from the live model, for the caller's units only (services/api/live.py);
    availability and app users (`mau_month`) from the view's figures of `figures_as_of`; the units themselves
    read once per change to them. `ETag`/`If-None-Match` answer 304 when unchanged."""
    view = unit_set or settings.unit_set
    connect = on_this_connection(conn)
    model = live.view(connect, view)
    listed = live.kept(model, ("units", view), lambda: units.list_units(conn, view))
    rows = [r for r in listed if principal.can_read_unit(view, r["code"])]
    codes = [r["code"] for r in rows] if principal.units is not None else None
    counts = model.live_counts(now, settings.gateway_silence_s, codes)
    figures = live.figures(connect, view, now, settings.tz)
    day, month, mau = figures.day, figures.month, figures.mau
    places = live.kept(model, ("places", view), lambda: unit_places.places_of(conn, view))
    none = dict.fromkeys(uptime.LIVE_STATES, 0)
    items = []
    for r in rows:
        live_now = counts.get(r["code"], none)
        items.append(
            {
                **_item(r),
                "cameras_total": sum(live_now.values()),
                "cameras_up": live_now["up"],
                "cameras_degraded": live_now["degraded"],
                "cameras_down": live_now["down"],
                "cameras_unknown": live_now["unknown"],
                "availability_today": uptime.figures(day.get(r["code"], {})).availability,
                "availability_month": uptime.figures(month.get(r["code"], {})).availability,
                "mau_month": mau.get(r["code"], 0),
                # its centroid (the map, issue 18); null when no place is known
                "lat": places[r["code"]][0] if r["code"] in places else None,
                "lon": places[r["code"]][1] if r["code"] in places else None,
            }
        )
    body = {
        "unit_set": view,
        "as_of": now.isoformat(),
        "figures_as_of": figures.as_of.isoformat(),
        "summary": _summary(items, rows, day, month),
        "items": items,
    }
    return conditional(request, body)


def _summary(items: list[dict], rows: list[dict], day: dict, month: dict) -> dict:
    """The listed units together: cameras summed, availability from their summed seconds (never an average of
    the units' fractions)."""
    codes = [r["code"] for r in rows]

    def together(seconds: dict) -> float | None:
        return uptime.figures(uptime.sum_seconds(seconds.get(code, {}) for code in codes)).availability

    counts = ("cameras_total", "cameras_up", "cameras_degraded", "cameras_down", "cameras_unknown")
    return {
        **{key: sum(i[key] for i in items) for key in counts},
        "availability_today": together(day),
        "availability_month": together(month),
    }


@router.get("/{unit_set}/{code}", summary="One unit")
def get_unit(principal: Reader, conn: ReadConn, unit_set: CodePath, code: CodePath) -> dict:
    require_unit(principal, unit_set, code)
    row = next((r for r in units.list_units(conn, unit_set) if r["code"] == code), None)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no unit {code} in set {unit_set}")
    return {"unit_set": unit_set, **_item(row)}


class PopulationIn(BaseModel):
    population: int | None = Field(default=None, ge=0, le=10_000_000)
    households: int | None = Field(default=None, ge=0, le=10_000_000)
    note: str = Field(default="", max_length=200, pattern=FREE_TEXT, description="where the figure comes from")


@router.put("/{unit_set}/{code}/population", summary="Enter a unit's population (admin)")
def put_population(
    principal: AdminOnly, conn: ActingConn, unit_set: CodePath, code: CodePath, body: PopulationIn
) -> dict:
    try:
        units.set_population(
            conn,
            unit_set=unit_set,
            code=code,
            population=body.population,
            households=body.households,
            note=body.note,
        )
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return get_unit(principal, conn, unit_set, code)
