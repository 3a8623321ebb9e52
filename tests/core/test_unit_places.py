"""The units' places (issue 18, the map): the shipped centroids cover the province's 2025 units, a places file is
checked whole with line-numbered problems, and `pulse migrate` loads the points."""

from __future__ import annotations

import psycopg
import pytest

from services.core.migrate import migrate
from services.core.unit_places import PlacesFileError, load_places, parse_places_csv, places_of, shipped_places
from services.core.units import shipped_units

HEADER = "unit_set,code,lat,lon\n"


def test_the_shipped_places_cover_every_2025_unit_of_the_province() -> None:
    codes = {u.code for u in shipped_units().units if u.unit_set == "2025"}
    placed = {p.code for p in shipped_places() if p.unit_set == "2025"}
    assert codes - placed == set(), f"2025 units without a place: {sorted(codes - placed)}"
    assert placed - codes == set(), f"places of units that do not exist: {sorted(placed - codes)}"
    assert len(placed) == 166


def test_every_shipped_place_lies_in_thanh_hoa() -> None:
    # The province spans about 19.2–20.7 °N and 104.4–106.1 °E.
    for p in shipped_places():
        assert 19.2 <= p.lat <= 20.7 and 104.3 <= p.lon <= 106.1, p


def test_hoang_hoa_xa_lies_east_of_the_provincial_capital() -> None:
    by_code = {p.code: p for p in shipped_places()}
    hoang_hoa, hac_thanh = by_code["15865"], by_code["14797"]
    assert hoang_hoa.lon > hac_thanh.lon and abs(hoang_hoa.lat - hac_thanh.lat) < 0.2


def test_a_good_file_is_parsed_with_a_bom_and_crlf() -> None:
    places = parse_places_csv("\ufeff" + HEADER.replace("\n", "\r\n") + "2025,15865,19.8555,105.858\r\n")
    assert [(p.unit_set, p.code, p.lat, p.lon) for p in places] == [("2025", "15865", 19.8555, 105.858)]


def test_a_bad_file_reports_every_problem_with_its_line() -> None:
    text = (
        HEADER
        + "2025,15865,19.85,105.85\n"
        + "2025,15880,north,105.8\n"  # line 3: not a number
        + "2025,15889,91,105.8\n"  # line 4: latitude out of range
        + "2025,15865,19.9,105.9\n"  # line 5: repeated
        + "2025,bad code,19.9,105.9\n"  # line 6: not a code
        + "2025,15910,19.9,nan\n"  # line 7: not finite
    )
    with pytest.raises(PlacesFileError) as err:
        parse_places_csv(text)
    problems = err.value.problems
    assert any(p.startswith("line 3:") and "lat 'north' is not a number" in p for p in problems)
    assert any(p.startswith("line 4:") and "outside -90..90" in p for p in problems)
    assert any(p.startswith("line 5:") and "repeats line 2" in p for p in problems)
    assert any(p.startswith("line 6:") and "code" in p for p in problems)
    assert any(p.startswith("line 7:") and "lon" in p for p in problems)
    assert not any(p.startswith("line 2:") for p in problems)


def test_a_file_without_the_required_columns_is_refused() -> None:
    with pytest.raises(PlacesFileError, match="line 1: missing column"):
        parse_places_csv("unit_set,code,lat\n2025,1,2\n")


@pytest.mark.db
def test_migrate_loads_the_points_and_loading_again_changes_nothing(conn) -> None:
    places = places_of(conn, "2025")
    assert len(places) == 166
    assert places["15865"] == pytest.approx((19.8555, 105.858))
    assert places_of(conn, "2024") == {}  # no shipped places for Hoằng Hóa's 2024 communes
    changed, unknown = load_places(conn, shipped_places())
    assert (changed, unknown) == (0, [])
    assert migrate(conn).units_changed == 0


@pytest.mark.db
def test_a_place_of_an_unknown_unit_is_reported_not_loaded(conn) -> None:
    changed, unknown = load_places(conn, parse_places_csv(HEADER + "2025,99999,19.8,105.8\n"))
    assert (changed, unknown) == (0, ["2025/99999"])


@pytest.mark.db
def test_the_database_refuses_a_point_off_the_globe(conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE units SET lat = 123, lon = 105 WHERE unit_set = '2025' AND code = '15865'")
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE units SET lat = NULL WHERE unit_set = '2025' AND code = '15865'")
