"""Administrative units: versioned sets with validity dates, identified by (unit_set, code), in a hierarchy
(province → district → commune before 1 July 2025; province → commune after), with the successors of each unit in
the next set (SPEC §3).

`parse_units_csv` / `parse_unit_files` are pure: they validate whole files and report every problem with its line
number, so an import is all-or-nothing. `load_units` upserts parsed files (names, kinds, groups, validity, mapping,
successors; never the operator-entered population). The shipped files (reference/*.csv) are one province's
official list and one former district's 2024 set; see reference/README.md. No code here names either.

A unit file's columns (only the first five are required; README "Unit files"):
`unit_set,code,name,type,successor_code` — a unit, and its successor(s) in the next set (several codes, separated
by spaces, when it was split); `successor_set` — the set the successors are in (default: the next set in the file);
`partly_merged` — `yes` when the unit was split between several successors (the official table's column);
`district_code,district_name` — the district it belonged to (sets before the 2025 reform);
`province_code,province_name` — its province; `valid_from,valid_to` — the set's validity (ISO dates, `valid_to`
exclusive; the same on every row of a set).

Successors decide a unit's place in the next set only when there is exactly one and the unit was not split: those
go to `mapping` (used to view figures of one set in another). A split unit's successors are kept (`successors`)
but decide nothing: its cameras need the operator's word. A unit with no successor at all is an error, unless the
file carries the official `partly_merged` column (the official table leaves two units without one): then it is
reported (`notes`), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
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
    group_code: str | None = None  # its district (before the reform) or its province


@dataclass(frozen=True)
class UnitGroup:
    """A level above the communes within a set: a province, or (before the 2025 reform) a district."""

    unit_set: str
    code: str
    name: str
    level: str  # province | district
    parent_code: str | None = None  # a district's province


@dataclass(frozen=True)
class Successor:
    from_set: str
    from_code: str
    to_set: str
    to_code: str
    partly: bool  # the unit was split: this successor took part of it


@dataclass(frozen=True)
class UnitFile:
    units: tuple[Unit, ...]
    # (from_set, from_code) -> (to_set, to_code): successors that decide (one, whole)
    mapping: dict[tuple[str, str], tuple[str, str]]
    successor_sets: dict[str, str]
    groups: tuple[UnitGroup, ...] = ()
    successors: tuple[Successor, ...] = ()
    validity: dict[str, tuple[date | None, date | None]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def parse_units_csv(text: str) -> UnitFile:
    return parse_unit_files([("", text)])


def parse_unit_files(files: Iterable[tuple[str, str]]) -> UnitFile:
    """One or more unit files (name, text) read together: a successor may be a unit of another file."""
    problems: list[str] = []
    rows: list[tuple[str, dict[str, str]]] = []  # (where, row)
    official = False
    for name, text in files:
        try:
            columns, reader = read_rows(text, required=REQUIRED_COLUMNS)
        except ImportProblems as exc:
            problems += [f"{name}: {p}" if name else p for p in exc.problems]
            continue
        official |= "partly_merged" in columns
        rows += [(f"{name}: line {line}" if name else f"line {line}", row) for line, row in reader]
    seen: dict[tuple[str, str], str] = {}
    for where, row in rows:
        for col in ("code", "unit_set"):
            if not _CODE.match(row[col]):
                problems.append(f"{where}: {col} {row[col]!r} is not a code ([A-Za-z0-9_-], 1–32)")
        if not row["name"]:
            problems.append(f"{where}: name is empty")
        key = (row["unit_set"], row["code"])
        if key in seen:
            problems.append(f"{where}: unit {key[1]} of set {key[0]} repeats {seen[key]}")
        seen[key] = where
    sets = sorted({row["unit_set"] for _, row in rows})
    validity = _validity(rows, problems)
    groups = _groups(rows, problems)
    successor_sets: dict[str, str] = {}
    mapping: dict[tuple[str, str], tuple[str, str]] = {}
    successors: list[Successor] = []
    notes: list[str] = []
    for where, row in rows:
        codes = row["successor_code"].split()
        if not codes:
            continue
        to_set = row.get("successor_set") or _next_set(sets, row["unit_set"])
        if to_set is None:
            problems.append(f"{where}: successor_code given but no later unit set in the file")
            continue
        if successor_sets.setdefault(row["unit_set"], to_set) != to_set:
            problems.append(f"{where}: set {row['unit_set']} maps to two successor sets")
        partly = row.get("partly_merged", "").lower() == "yes" or len(codes) > 1
        for code in codes:
            if (to_set, code) not in seen:
                problems.append(f"{where}: successor {code} is not a unit of set {to_set}")
            successors.append(Successor(row["unit_set"], row["code"], to_set, code, partly))
        if not partly:
            mapping[(row["unit_set"], row["code"])] = (to_set, codes[0])
    has_successor = {(s.from_set, s.from_code) for s in successors}
    for where, row in rows:
        key = (row["unit_set"], row["code"])
        if row["unit_set"] in successor_sets and key not in has_successor:
            message = f"unit {row['code']} ({row['name']}) of set {row['unit_set']} has no successor"
            if official:
                notes.append(message + " in the official table")
            else:
                problems.append(
                    f"{where}: unit {row['code']} has no successor in set {successor_sets[row['unit_set']]}"
                )
    if not rows and not problems:
        problems.append("the file holds no units")
    if problems:
        raise UnitFileError(problems)
    units = tuple(
        Unit(
            row["unit_set"],
            row["code"],
            row["name"],
            row["type"],
            row.get("district_code") or row.get("province_code") or None,
        )
        for _, row in rows
    )
    return UnitFile(units, mapping, successor_sets, groups, tuple(successors), validity, tuple(notes))


def _validity(
    rows: list[tuple[str, dict[str, str]]], problems: list[str]
) -> dict[str, tuple[date | None, date | None]]:
    found: dict[str, tuple[date | None, date | None]] = {}
    for where, row in rows:
        try:
            span = tuple(date.fromisoformat(row[c]) if row.get(c) else None for c in ("valid_from", "valid_to"))
        except ValueError:
            problems.append(f"{where}: valid_from/valid_to: expected a date such as 2025-07-01")
            continue
        start, end = span
        if start is not None and end is not None and start >= end:
            problems.append(f"{where}: valid_from must come before valid_to")
        if found.setdefault(row["unit_set"], (start, end)) != (start, end):
            problems.append(f"{where}: set {row['unit_set']} has another validity on an earlier line")
    return found


def _groups(rows: list[tuple[str, dict[str, str]]], problems: list[str]) -> tuple[UnitGroup, ...]:
    groups: dict[tuple[str, str], UnitGroup] = {}

    def add(where: str, group: UnitGroup) -> None:
        if not _CODE.match(group.code) or not group.name:
            problems.append(f"{where}: {group.level}_code and {group.level}_name must both be given")
            return
        if groups.setdefault((group.unit_set, group.code), group) != group:
            problems.append(f"{where}: {group.level} {group.code} of set {group.unit_set} differs from an earlier line")

    for where, row in rows:
        province = row.get("province_code", "")
        if province or row.get("province_name"):
            add(where, UnitGroup(row["unit_set"], province, row.get("province_name", ""), "province"))
        if row.get("district_code") or row.get("district_name"):
            add(
                where,
                UnitGroup(
                    row["unit_set"],
                    row.get("district_code", ""),
                    row.get("district_name", ""),
                    "district",
                    province or None,
                ),
            )
    return tuple(groups.values())


def _next_set(sets: list[str], current: str) -> str | None:
    later = [s for s in sets if s > current]
    return later[0] if later else None


def shipped_units() -> UnitFile:
    """Every reference/*.csv, read together."""
    folder = resources.files("services.core").joinpath("reference")
    files = sorted(
        (entry.name, entry.read_text(encoding="utf-8")) for entry in folder.iterdir() if entry.name.endswith(".csv")
    )
    return parse_unit_files(files)


def load_units(conn: DbConn, unit_file: UnitFile) -> int:
    """Upsert the files' sets, groups, units, mapping and successors; returns how many rows changed (0 when
    already loaded)."""
    changed = 0
    for unit_set in sorted({u.unit_set for u in unit_file.units}, reverse=True):
        start, end = unit_file.validity.get(unit_set, (None, None))
        cur = conn.execute(
            "INSERT INTO unit_sets (unit_set, valid_from, valid_to) VALUES (%s, %s, %s)"
            " ON CONFLICT (unit_set) DO UPDATE SET valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to"
            " WHERE (unit_sets.valid_from, unit_sets.valid_to)"
            " IS DISTINCT FROM (EXCLUDED.valid_from, EXCLUDED.valid_to)",
            (unit_set, start, end),
        )
        changed += cur.rowcount
    for from_set, to_set in unit_file.successor_sets.items():
        cur = conn.execute(
            "UPDATE unit_sets SET successor_set = %s WHERE unit_set = %s AND successor_set IS DISTINCT FROM %s",
            (to_set, from_set, to_set),
        )
        changed += cur.rowcount
    for g in sorted(unit_file.groups, key=lambda g: g.level != "province"):  # provinces first: districts refer to them
        cur = conn.execute(
            "INSERT INTO unit_groups (unit_set, code, name, level, parent_code) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (unit_set, code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level,"
            " parent_code = EXCLUDED.parent_code"
            " WHERE (unit_groups.name, unit_groups.level, unit_groups.parent_code)"
            " IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent_code)",
            (g.unit_set, g.code, g.name, g.level, g.parent_code),
        )
        changed += cur.rowcount
    for u in unit_file.units:
        cur = conn.execute(
            "INSERT INTO units (unit_set, code, name, kind, group_code) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (unit_set, code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,"
            " group_code = EXCLUDED.group_code"
            " WHERE (units.name, units.kind, units.group_code)"
            " IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.group_code)",
            (u.unit_set, u.code, u.name, u.kind, u.group_code),
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
    for s in unit_file.successors:
        cur = conn.execute(
            "INSERT INTO unit_successors (from_set, from_code, to_set, to_code, partly) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (from_set, from_code, to_set, to_code) DO UPDATE SET partly = EXCLUDED.partly"
            " WHERE unit_successors.partly IS DISTINCT FROM EXCLUDED.partly",
            (s.from_set, s.from_code, s.to_set, s.to_code, s.partly),
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
    """The units of a set with their group (district, or province after the reform) and, for a set that
    replaced districts, the former district each unit mostly came from (`former_district_*`; None where none).

    A unit of a set without districts came from units of earlier sets that had them; its former district is the one
    most of those units were in (ties: the lowest code). A border merge takes units of two districts into one xã:
    it is grouped under one of them, as an operator reading the province by former district expects."""
    return conn.execute(
        """
        WITH former AS (
            SELECT DISTINCT ON (s.to_code) s.to_code, g.code AS district_code, g.name AS district_name
            FROM unit_successors s
            JOIN units p ON p.unit_set = s.from_set AND p.code = s.from_code
            JOIN unit_groups g ON g.unit_set = p.unit_set AND g.code = p.group_code AND g.level = 'district'
            WHERE s.to_set = %(set)s
            GROUP BY s.to_code, g.code, g.name
            ORDER BY s.to_code, count(*) DESC, g.code
        )
        SELECT u.unit_set, u.code, u.name, u.kind, u.population, u.households, u.population_note,
               u.group_code, g.name AS group_name,
               f.district_code AS former_district_code, f.district_name AS former_district_name
        FROM units u
        LEFT JOIN unit_groups g ON g.unit_set = u.unit_set AND g.code = u.group_code
        LEFT JOIN former f ON f.to_code = u.code
        WHERE u.unit_set = %(set)s ORDER BY u.code
        """,
        {"set": unit_set},
    ).fetchall()


def successors_of(conn: DbConn, unit_set: str) -> dict[str, set[str]]:
    """Each unit of a set with its official successors in the next set (whole or partial)."""
    out: dict[str, set[str]] = {}
    for r in conn.execute("SELECT from_code, to_code FROM unit_successors WHERE from_set = %s", (unit_set,)):
        out.setdefault(r["from_code"], set()).add(r["to_code"])
    return out


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


@dataclass(frozen=True)
class GroupOf:
    """The group a unit is counted under at one level of a view (`groups_of`)."""

    code: str
    name: str
    level: str  # district | province


def groups_of(conn: DbConn, unit_set: str, level: str) -> dict[str, GroupOf | None]:
    """Every unit of a set with its group at `level` ('district' or 'province'), None where it has none.

    District: the unit's own district in a set that has districts (its `group_code`); in a set without them (the
    2025 xã under the province), its former district from `list_units` — the one most of its parts came from, so
    each unit is in exactly one district group and no camera or subject is counted in two. Province: the unit's
    group when that is a province, else its district's parent."""
    if level not in ("district", "province"):
        raise ValueError(f"level: expected district or province, not {level!r}")
    groups = {
        r["code"]: r
        for r in conn.execute(
            "SELECT code, name, level, parent_code FROM unit_groups WHERE unit_set = %s", (unit_set,)
        ).fetchall()
    }
    out: dict[str, GroupOf | None] = {}
    for u in list_units(conn, unit_set):
        own = groups.get(u["group_code"] or "")
        found: GroupOf | None = None
        if own is not None and own["level"] == level:
            found = GroupOf(own["code"], own["name"], level)
        elif own is not None and level == "province" and own["parent_code"] in groups:
            parent = groups[own["parent_code"]]
            found = GroupOf(parent["code"], parent["name"], level)
        elif level == "district" and (own is None or own["level"] == "province") and u["former_district_code"]:
            found = GroupOf(u["former_district_code"], u["former_district_name"], level)
        out[u["code"]] = found
    return out
