"""Administrative units: versioned sets, identified by (unit_set, code), with a mapping to the successor set.

`parse_units_csv` is pure: it validates a whole file and reports every problem with its line number, so an
import is all-or-nothing. `load_units` upserts a parsed file (names, kinds, mapping; never the operator-entered
population). The shipped file is the 2024 → 2025 reform of Hoằng Hóa (see reference/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from services.core.csv_import import ImportProblems, read_rows
from services.core.db import DbConn

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
REQUIRED_COLUMNS = ("code", "name", "type", "unit_set", "successor_code")


class UnitFileError(ImportProblems):
    """Every problem of a units file, one per line, with line numbers."""


@dataclass(frozen=True)
class Unit:
    unit_set: str
    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class UnitFile:
    units: tuple[Unit, ...]
    # (from_set, from_code) -> (to_set, to_code)
    mapping: dict[tuple[str, str], tuple[str, str]]
    successor_sets: dict[str, str]


def parse_units_csv(text: str) -> UnitFile:
    try:
        _, reader = read_rows(text, required=REQUIRED_COLUMNS)
    except ImportProblems as exc:
        raise UnitFileError(exc.problems) from None
    problems: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in reader:
        for col in ("code", "unit_set"):
            if not _CODE.match(row[col]):
                problems.append(f"line {line}: {col} {row[col]!r} is not a code ([A-Za-z0-9_-], 1–32)")
        if not row["name"]:
            problems.append(f"line {line}: name is empty")
        key = (row["unit_set"], row["code"])
        if key in seen:
            problems.append(f"line {line}: unit {key[1]} of set {key[0]} repeats line {seen[key]}")
        seen[key] = line
        rows.append((line, row))
    sets = sorted({row["unit_set"] for _, row in rows})
    successor_sets: dict[str, str] = {}
    mapping: dict[tuple[str, str], tuple[str, str]] = {}
    for line, row in rows:
        if not row["successor_code"]:
            continue
        to_set = row.get("successor_set") or _next_set(sets, row["unit_set"])
        if to_set is None:
            problems.append(f"line {line}: successor_code given but no later unit set in the file")
            continue
        if successor_sets.setdefault(row["unit_set"], to_set) != to_set:
            problems.append(f"line {line}: set {row['unit_set']} maps to two successor sets")
        if (to_set, row["successor_code"]) not in seen:
            problems.append(f"line {line}: successor {row['successor_code']} is not a unit of set {to_set}")
        mapping[(row["unit_set"], row["code"])] = (to_set, row["successor_code"])
    for line, row in rows:
        if row["unit_set"] in successor_sets and (row["unit_set"], row["code"]) not in mapping:
            problems.append(
                f"line {line}: unit {row['code']} has no successor in set {successor_sets[row['unit_set']]}"
            )
    if not rows:
        problems.append("the file holds no units")
    if problems:
        raise UnitFileError(problems)
    units = tuple(Unit(row["unit_set"], row["code"], row["name"], row["type"]) for _, row in rows)
    return UnitFile(units, mapping, successor_sets)


def _next_set(sets: list[str], current: str) -> str | None:
    later = [s for s in sets if s > current]
    return later[0] if later else None


def shipped_units() -> UnitFile:
    text = resources.files("services.core").joinpath("reference/hoanghoa-units.csv").read_text(encoding="utf-8")
    return parse_units_csv(text)


def load_units(conn: DbConn, unit_file: UnitFile) -> int:
    """Upsert the file's sets, units and mapping; returns how many rows changed (0 when already loaded)."""
    changed = 0
    for unit_set in sorted({u.unit_set for u in unit_file.units}, reverse=True):
        cur = conn.execute(
            "INSERT INTO unit_sets (unit_set) VALUES (%s) ON CONFLICT (unit_set) DO NOTHING", (unit_set,)
        )
        changed += cur.rowcount
    for from_set, to_set in unit_file.successor_sets.items():
        cur = conn.execute(
            "UPDATE unit_sets SET successor_set = %s WHERE unit_set = %s AND successor_set IS DISTINCT FROM %s",
            (to_set, from_set, to_set),
        )
        changed += cur.rowcount
    for u in unit_file.units:
        cur = conn.execute(
            "INSERT INTO units (unit_set, code, name, kind) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (unit_set, code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind"
            " WHERE (units.name, units.kind) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind)",
            (u.unit_set, u.code, u.name, u.kind),
        )
        changed += cur.rowcount
    for (from_set, from_code), (to_set, to_code) in unit_file.mapping.items():
        cur = conn.execute(
            "INSERT INTO unit_mapping (from_set, from_code, to_set, to_code) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (from_set, from_code, to_set) DO UPDATE SET to_code = EXCLUDED.to_code"
            " WHERE unit_mapping.to_code IS DISTINCT FROM EXCLUDED.to_code",
            (from_set, from_code, to_set, to_code),
        )
        changed += cur.rowcount
    return changed


def set_population(
    conn: DbConn,
    *,
    unit_set: str,
    code: str,
    population: int | None,
    households: int | None,
    note: str,
) -> None:
    cur = conn.execute(
        "UPDATE units SET population = %s, households = %s, population_note = %s WHERE unit_set = %s AND code = %s",
        (population, households, note, unit_set, code),
    )
    if cur.rowcount == 0:
        raise LookupError(f"no unit {code} in unit set {unit_set}")


def list_units(conn: DbConn, unit_set: str) -> list[dict]:
    return conn.execute(
        "SELECT unit_set, code, name, kind, population, households, population_note FROM units"
        " WHERE unit_set = %s ORDER BY code",
        (unit_set,),
    ).fetchall()


def load_mapping(conn: DbConn) -> dict[tuple[str, str], tuple[str, str]]:
    rows = conn.execute("SELECT from_set, from_code, to_set, to_code FROM unit_mapping").fetchall()
    return {(r["from_set"], r["from_code"]): (r["to_set"], r["to_code"]) for r in rows}


def set_adoption_target(conn: DbConn, *, unit_set: str, code: str, target: float | None, note: str = "") -> None:
    """An operator-entered adoption target (a fraction 0–1) for the monthly briefing; None removes it."""
    if not conn.execute("SELECT 1 FROM units WHERE unit_set = %s AND code = %s", (unit_set, code)).fetchone():
        raise LookupError(f"unit: no unit {code} in set {unit_set}")
    if target is None:
        conn.execute("DELETE FROM unit_targets WHERE unit_set = %s AND unit_code = %s", (unit_set, code))
        return
    if not 0 <= target <= 1:
        raise ValueError("adoption: a fraction from 0 to 1 (0.3 = 30 %)")
    conn.execute(
        "INSERT INTO unit_targets (unit_set, unit_code, adoption_target, note) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (unit_set, unit_code) DO UPDATE SET adoption_target = EXCLUDED.adoption_target,"
        " note = EXCLUDED.note, updated_at = now()",
        (unit_set, code, target, note),
    )
