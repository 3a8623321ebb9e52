"""Where each unit is: one point (its centroid) per (unit_set, code), drawn by the dashboard's map (issue 18).

A places file has the columns `unit_set,code,lat,lon` (WGS 84 degrees, a dot as the decimal separator). The shipped
ones are reference/places/*.csv (see reference/README.md for their source); they are kept apart from the unit
files because every reference/*.csv is read as one. `parse_places_csv` is pure and reports every problem with its
line number, so a file is applied whole or not at all; `load_places` writes the points of units that exist
(idempotent: a row that already holds the value is not touched). An operator's file has the same format.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources

from services.core.csv_import import ImportProblems, read_rows
from services.core.db import DbConn

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
REQUIRED_COLUMNS = ("unit_set", "code", "lat", "lon")


class PlacesFileError(ImportProblems):
    """Every problem of a places file, one per line, with line numbers."""


@dataclass(frozen=True)
class Place:
    unit_set: str
    code: str
    lat: float
    lon: float


def parse_places_csv(text: str) -> list[Place]:
    try:
        _, rows = read_rows(text, required=REQUIRED_COLUMNS)
    except ImportProblems as exc:
        raise PlacesFileError(exc.problems) from None
    places: list[Place] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in rows:
        unit_set, code = row.get("unit_set", ""), row.get("code", "")
        errors = [
            f"{col} {row.get(col, '')!r} is not a code"
            for col in ("unit_set", "code")
            if not _CODE.match(row.get(col, ""))
        ]
        lat = _degrees(row.get("lat", ""), 90, "lat", errors)
        lon = _degrees(row.get("lon", ""), 180, "lon", errors)
        if (unit_set, code) in seen:
            errors.append(f"unit {unit_set}/{code} repeats line {seen[unit_set, code]}")
        seen.setdefault((unit_set, code), line)
        if errors:
            problems.extend(f"line {line}: {e}" for e in errors)
        elif lat is not None and lon is not None:
            places.append(Place(unit_set, code, lat, lon))
    if problems:
        raise PlacesFileError(problems)
    return places


def _degrees(text: str, limit: int, column: str, errors: list[str]) -> float | None:
    try:
        value = float(text)
    except ValueError:
        errors.append(f"{column} {text!r} is not a number")
        return None
    if not math.isfinite(value) or not -limit <= value <= limit:
        errors.append(f"{column} {text!r} is outside -{limit}..{limit}")
        return None
    return value


def shipped_places() -> list[Place]:
    """Every reference/places/*.csv, read together."""
    folder = resources.files("services.core").joinpath("reference", "places")
    places: list[Place] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".csv"):
            try:
                places.extend(parse_places_csv(entry.read_text(encoding="utf-8")))
            except PlacesFileError as exc:
                raise PlacesFileError([f"{entry.name} {p}" for p in exc.problems]) from None
    return places


def load_places(conn: DbConn, places: list[Place]) -> tuple[int, list[str]]:
    """Write the points; returns how many units changed and the places whose unit does not exist (not an error:
    a places file may cover more sets than were loaded)."""
    known = {(r["unit_set"], r["code"]) for r in conn.execute("SELECT unit_set, code FROM units")}
    unknown = [f"{p.unit_set}/{p.code}" for p in places if (p.unit_set, p.code) not in known]
    changed = 0
    for p in places:
        if (p.unit_set, p.code) in known:
            cur = conn.execute(
                "UPDATE units SET lat = %s, lon = %s WHERE unit_set = %s AND code = %s"
                " AND (lat, lon) IS DISTINCT FROM (%s::double precision, %s::double precision)",
                (p.lat, p.lon, p.unit_set, p.code, p.lat, p.lon),
            )
            changed += cur.rowcount
    return changed, unknown


def places_of(conn: DbConn, unit_set: str) -> dict[str, tuple[float, float]]:
    """code -> (lat, lon) of the units of a set that have a place."""
    rows = conn.execute(
        "SELECT code, lat, lon FROM units WHERE unit_set = %s AND lat IS NOT NULL", (unit_set,)
    ).fetchall()
    return {r["code"]: (r["lat"], r["lon"]) for r in rows}
