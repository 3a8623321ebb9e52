"""The shipped reference units against the official list (SPEC §3, issue 18): the province's 166 units of 2025,
its 549 units of the first half of 2025 with their districts and successors, and Hoằng Hóa's 2024 set — read
independently here from the shipped files' own columns, and compared with what the loader makes of them."""

from __future__ import annotations

import csv
from collections import Counter
from importlib import resources

import psycopg
import pytest

from services.core.units import list_units, shipped_units

REFERENCE = resources.files("services.core").joinpath("reference")
HOANG_HOA_2025 = {"15865", "15880", "15889", "15910", "15961", "15976", "15991", "16000"}


def rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(REFERENCE.joinpath(name).read_text(encoding="utf-8").splitlines()))


def test_2025_has_166_units_147_xa_and_19_phuong_in_one_province() -> None:
    units = [u for u in shipped_units().units if u.unit_set == "2025"]
    assert len(units) == 166
    assert Counter(u.kind for u in units) == {"xã": 147, "phường": 19}
    assert {u.group_code for u in units} == {"38"}
    groups = [g for g in shipped_units().groups if g.unit_set == "2025"]
    assert [(g.code, g.name, g.level) for g in groups] == [("38", "Thanh Hóa", "province")]


def test_hoang_hoas_8_xa_are_among_them_with_the_reference_codes_and_names() -> None:
    by_code = {u.code: u.name for u in shipped_units().units if u.unit_set == "2025"}
    assert {c: by_code[c] for c in HOANG_HOA_2025} == {
        "15865": "Hoằng Hóa", "15880": "Hoằng Giang", "15889": "Hoằng Phú", "15910": "Hoằng Sơn",
        "15961": "Hoằng Lộc", "15976": "Hoằng Châu", "15991": "Hoằng Tiến", "16000": "Hoằng Thanh",
    }  # fmt: skip


def test_every_legacy_unit_keeps_its_district_and_the_successors_of_the_official_table() -> None:
    parsed = shipped_units()
    official = rows("thanhhoa-2025-01.csv")
    assert len(official) == 549 and len({r["district_code"] for r in official}) == 26
    successors: dict[str, set[tuple[str, bool]]] = {}
    for s in parsed.successors:
        if s.from_set == "2025-01":
            successors.setdefault(s.from_code, set()).add((s.to_code, s.partly))
    for r in official:
        codes = r["successor_code"].split()
        partly = r["partly_merged"] == "yes" or len(codes) > 1
        assert successors.get(r["code"], set()) == {(c, partly) for c in codes}, r["code"]
        decided = parsed.mapping.get(("2025-01", r["code"]))
        assert decided == (None if partly or not codes else ("2025", codes[0])), r["code"]
    units = {u.code: u for u in parsed.units if u.unit_set == "2025-01"}
    assert all(units[r["code"]].group_code == r["district_code"] for r in official)
    districts = {g.code: g for g in parsed.groups if g.unit_set == "2025-01" and g.level == "district"}
    assert len(districts) == 26 and districts["399"].name == "Huyện Hoằng Hóa" and districts["399"].parent_code == "38"
    split = [r for r in official if r["partly_merged"] == "yes"]
    assert len(split) == 32  # their cameras need the operator's word: no mapping decides them
    hoang_hoa = [r for r in official if r["district_code"] == "399"]
    assert len(hoang_hoa) == 36 and {c for r in hoang_hoa for c in r["successor_code"].split()} == HOANG_HOA_2025


def test_the_two_units_without_a_successor_are_reported_not_dropped() -> None:
    parsed = shipped_units()
    assert parsed.notes == (
        "unit 16387 (Đông Khê) of set 2025-01 has no successor in the official table",
        "unit 16411 (Đông Xuân) of set 2025-01 has no successor in the official table",
    )
    codes = {u.code for u in parsed.units if u.unit_set == "2025-01"}
    assert {"16387", "16411"} <= codes


def test_each_set_says_when_it_was_in_force() -> None:
    from datetime import date

    validity = shipped_units().validity
    assert validity["2024"] == (None, date(2025, 1, 1))
    assert validity["2025-01"] == (date(2025, 1, 1), date(2025, 7, 1))
    assert validity["2025"] == (date(2025, 7, 1), None)


@pytest.mark.db
def test_after_migrate_the_database_holds_them_all(conn: psycopg.Connection) -> None:
    assert len(list_units(conn, "2025")) == 166
    assert len(list_units(conn, "2025-01")) == 549
    assert len(list_units(conn, "2024")) == 37
    n = conn.execute("SELECT count(*) AS n FROM unit_successors WHERE from_set = '2025-01'").fetchone()["n"]
    assert n == sum(len(r["successor_code"].split()) for r in rows("thanhhoa-2025-01.csv"))
    groups = conn.execute("SELECT unit_set, level, count(*) AS n FROM unit_groups GROUP BY 1, 2 ORDER BY 1, 2")
    assert [tuple(r.values()) for r in groups] == [
        ("2024", "district", 1), ("2024", "province", 1), ("2025", "province", 1),
        ("2025-01", "district", 26), ("2025-01", "province", 1),
    ]  # fmt: skip
