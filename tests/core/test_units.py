import pytest

from services.core.units import UnitFileError, parse_units_csv, shipped_units


def test_the_shipped_sets_have_37_549_and_166_units() -> None:
    units = shipped_units().units
    assert len([u for u in units if u.unit_set == "2024"]) == 37  # Hoằng Hóa's communes in 2024
    assert len([u for u in units if u.unit_set == "2025-01"]) == 549  # the province, first half of 2025
    assert len([u for u in units if u.unit_set == "2025"]) == 166  # the province from 1 July 2025


def test_every_2024_unit_maps_to_exactly_one_2025_unit() -> None:
    parsed = shipped_units()
    codes_2024 = {u.code for u in parsed.units if u.unit_set == "2024"}
    codes_2025 = {u.code for u in parsed.units if u.unit_set == "2025"}
    assert {k for k in parsed.mapping if k[0] == "2024"} == {("2024", c) for c in codes_2024}
    from_2024 = [to for (from_set, _), to in parsed.mapping.items() if from_set == "2024"]
    assert all(to_set == "2025" and to_code in codes_2025 for to_set, to_code in from_2024)
    # the 8 xã Hoằng Hóa's 37 communes became, as in the reference
    assert {to for _, to in from_2024} == {"15865", "15880", "15889", "15910", "15961", "15976", "15991", "16000"}


def test_codes_repeat_across_sets_with_other_names() -> None:
    by_key = {(u.unit_set, u.code): u.name for u in shipped_units().units}
    assert by_key[("2024", "15880")] == "Hoằng Phượng"
    assert by_key[("2025", "15880")] == "Hoằng Giang"
    assert by_key[("2024", "15910")] == "Hoằng Xuyên"
    assert by_key[("2025", "15910")] == "Hoằng Sơn"


def test_a_bad_file_reports_every_problem_with_its_line() -> None:
    text = (
        "code,name,type,unit_set,successor_code\n"
        "001,Alpha,xã,A,100\n"
        "002,,xã,A,100\n"  # line 3: no name
        "003,Gamma,xã,A,999\n"  # line 4: unknown successor
        "001,Alpha again,xã,A,100\n"  # line 5: repeated
        "100,Big,xã,B,\n"
    )
    with pytest.raises(UnitFileError) as err:
        parse_units_csv(text)
    problems = err.value.problems
    assert any(p.startswith("line 3:") and "name" in p for p in problems)
    assert any(p.startswith("line 4:") and "999" in p for p in problems)
    assert any(p.startswith("line 5:") and "repeats line 2" in p for p in problems)


def test_a_file_without_the_required_columns_is_refused() -> None:
    with pytest.raises(UnitFileError, match="missing column"):
        parse_units_csv("code,name\n1,x\n")


def test_a_unit_without_successor_in_a_mapped_set_is_refused() -> None:
    text = "code,name,type,unit_set,successor_code\n1,A,xã,A,9\n2,B,xã,A,\n9,Z,xã,B,\n"
    with pytest.raises(UnitFileError, match="line 3: unit 2 has no successor"):
        parse_units_csv(text)
