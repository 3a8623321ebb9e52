"""`units.groups_of`: each unit's former district and province in every shipped set (issue 18)."""

from __future__ import annotations

import pytest

from services.core import units

pytestmark = pytest.mark.db


def test_a_2025_xa_is_grouped_under_its_former_district_and_the_province(conn) -> None:
    districts = units.groups_of(conn, "2025", "district")
    assert (districts["15796"].code, districts["15796"].name) == ("398", "Huyện Thiệu Hóa")  # type: ignore[union-attr]
    assert districts["15865"].code == "399"  # type: ignore[union-attr]
    provinces = units.groups_of(conn, "2025", "province")
    assert {g.code if g else None for g in provinces.values()} == {"38"}
    assert len(provinces) == 166


def test_a_unit_of_a_set_with_districts_takes_its_own_district_and_that_districts_province(conn) -> None:
    for unit_set, code, district in (("2025-01", "15799", "398"), ("2024", "15928", "399")):
        assert units.groups_of(conn, unit_set, "district")[code].code == district  # type: ignore[union-attr]
        assert units.groups_of(conn, unit_set, "province")[code].code == "38"  # type: ignore[union-attr]
    assert len({g.code for g in units.groups_of(conn, "2025-01", "district").values() if g}) == 26


def test_it_refuses_an_unknown_level(conn) -> None:
    with pytest.raises(ValueError, match="level"):
        units.groups_of(conn, "2025", "commune")
