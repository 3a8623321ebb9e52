"""`/api/v1/units`: the administrative units an operator may see, and their operator-entered population."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from services.api.deps import AdminOnly, AppSettings, Conn, Reader, require_unit
from services.core import units

router = APIRouter(prefix="/api/v1/units", tags=["units"])
UnitSetParam = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="2024 or 2025")]
CodePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


def _item(row: dict) -> dict:
    return {
        "unit_code": row["code"],
        "unit_name": row["name"],
        "kind": row["kind"],
        "population": row["population"],
        "households": row["households"],
        "population_note": row["population_note"],
    }


@router.get("", summary="Units of a set that you may see")
def list_units(principal: Reader, conn: Conn, settings: AppSettings, unit_set: UnitSetParam = None) -> dict:
    unit_set = unit_set or settings.unit_set
    rows = [r for r in units.list_units(conn, unit_set) if principal.can_read_unit(unit_set, r["code"])]
    return {"unit_set": unit_set, "items": [_item(r) for r in rows]}


@router.get("/{unit_set}/{code}", summary="One unit")
def get_unit(principal: Reader, conn: Conn, unit_set: CodePath, code: CodePath) -> dict:
    require_unit(principal, unit_set, code)
    row = next((r for r in units.list_units(conn, unit_set) if r["code"] == code), None)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no unit {code} in set {unit_set}")
    return {"unit_set": unit_set, **_item(row)}


class PopulationIn(BaseModel):
    population: int | None = Field(default=None, ge=0, le=10_000_000)
    households: int | None = Field(default=None, ge=0, le=10_000_000)
    note: str = Field(default="", max_length=200, description="where the figure comes from")


@router.put("/{unit_set}/{code}/population", summary="Enter a unit's population (admin)")
def put_population(principal: AdminOnly, conn: Conn, unit_set: CodePath, code: CodePath, body: PopulationIn) -> dict:
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
