import psycopg
import pytest

from services.core import accounts, auth
from services.core.units import list_units, shipped_units

MAPPING = shipped_units().mapping


def test_a_commune_operator_sees_its_own_commune_but_not_the_merged_2025_unit() -> None:
    visible = auth.visible_units([("2024", "15871")], MAPPING)
    assert ("2024", "15871") in visible
    assert ("2024", "15877") not in visible  # a neighbour in the same 2025 xã
    assert ("2025", "15880") not in visible  # the 2025 figure would mix in the neighbours


def test_holding_every_commune_of_a_2025_unit_shows_the_2025_unit() -> None:
    children = [k for k, v in MAPPING.items() if v == ("2025", "15910")]
    visible = auth.visible_units(children, MAPPING)
    assert ("2025", "15910") in visible
    assert ("2025", "15880") not in visible


def test_a_2025_operator_sees_the_2024_communes_inside_its_unit() -> None:
    visible = auth.visible_units([("2025", "15976")], MAPPING)
    expected = {k for k, v in MAPPING.items() if v == ("2025", "15976")}
    assert expected <= visible
    assert ("2024", "15865") not in visible


def test_roles_decide_who_may_act() -> None:
    viewer = auth.Principal(1, "v", "viewer", None)
    commune = auth.Principal(2, "c", "commune", frozenset({("2024", "15871")}))
    admin = auth.Principal(3, "a", "admin", None)
    assert viewer.can_read_unit("2024", "15871") and not viewer.can_act_on_unit("2024", "15871")
    assert commune.can_act_on_unit("2024", "15871") and not commune.can_act_on_unit("2024", "15877")
    assert admin.can_act_on_unit("2025", "15880")
    assert commune.unit_codes("2024") == ["15871"] and admin.unit_codes("2024") is None


def test_tokens_are_random_and_hashed_one_way() -> None:
    a, b = auth.new_token("operator"), auth.new_token("operator")
    assert a != b and a.startswith("pat_") and len(a) > 40
    assert auth.hash_token(a) != a and len(auth.hash_token(a)) == 64
    assert auth.hash_token(a) == auth.hash_token(a)


def test_passwords_are_hashed_with_argon2() -> None:
    h = auth.hash_password("mật khẩu đúng")
    assert h.startswith("$argon2id$")
    assert auth.verify_password(h, "mật khẩu đúng")
    assert not auth.verify_password(h, "mật khẩu sai")
    assert not auth.verify_password("not a hash", "x")


def test_a_xa_operator_sees_its_2025_xa_and_only_the_older_units_wholly_inside_it() -> None:
    visible = auth.visible_units([("2025", "15796")], MAPPING)
    inside = {k for k, v in MAPPING.items() if v == ("2025", "15796")}
    assert {c for s, c in inside if s == "2025-01"} == {"15796", "15799", "15805", "15808", "15811"}
    assert visible == {("2025", "15796")} | inside
    assert ("2025-01", "15772") not in visible  # Thiệu Hóa town was split: only part of it went into this xã


def test_a_district_operator_acts_in_its_units_only() -> None:
    district = auth.Principal(4, "d", "district", frozenset({("2025-01", "15796"), ("2025", "15796")}))
    assert district.can_act_on_unit("2025-01", "15796") and district.can_act_on_unit("2025", "15796")
    assert not district.can_read_unit("2025-01", "15865") and not district.can_act_on_unit("2025-01", "15865")
    assert district.unit_codes("2025") == ["15796"]


@pytest.mark.db
def test_a_district_operator_sees_its_district_in_every_set_and_not_the_next_one(conn: psycopg.Connection) -> None:
    accounts.create_operator(
        conn,
        username="thieuhoa",
        role="district",
        unit_set="2025-01",
        unit_codes=[],
        password=None,
        district_code="398",
    )
    principal = accounts.principal_for_token(conn, accounts.create_api_token(conn, username="thieuhoa"))
    assert principal is not None and principal.role == "district"
    groups = {u["code"]: u["group_code"] for u in list_units(conn, "2025-01")}
    former = {u["code"]: u["former_district_code"] for u in list_units(conn, "2025")}
    assert set(principal.unit_codes("2025-01") or []) == {c for c, g in groups.items() if g == "398"}
    assert set(principal.unit_codes("2025") or []) == {c for c, d in former.items() if d == "398"}
    assert {"15772", "15796"} <= set(principal.unit_codes("2025") or [])
    assert principal.unit_codes("2024") == []  # the 2024 set is Hoằng Hóa's (399) alone
    assert not any(principal.can_read_unit("2025-01", c) for c, g in groups.items() if g == "399")
    assert not any(principal.can_read_unit("2025", c) for c, d in former.items() if d == "399")
    assert principal.can_act_on_unit("2025-01", "15799") and not principal.can_act_on_unit("2025-01", "15865")


@pytest.mark.db
def test_a_district_operator_names_a_district_of_the_set(conn: psycopg.Connection) -> None:
    with pytest.raises(
        accounts.AccountError, match=r"unknown district 398 in set 2024 \(sets with district 398: 2025-01"
    ):
        accounts.create_operator(
            conn, username="d", role="district", unit_set="2024", unit_codes=[], password=None, district_code="398"
        )
    with pytest.raises(accounts.AccountError, match="needs --district"):
        accounts.create_operator(conn, username="d", role="district", unit_set="2024", unit_codes=[], password=None)
    with pytest.raises(accounts.AccountError, match="--district applies to the district role only"):
        accounts.create_operator(
            conn, username="d", role="viewer", unit_set="2025-01", unit_codes=[], password=None, district_code="398"
        )
    with pytest.raises(accounts.AccountError, match="--unit applies to the commune role only"):
        accounts.create_operator(
            conn,
            username="d",
            role="district",
            unit_set="2024",
            unit_codes=["15865"],
            password=None,
            district_code="399",
        )
    assert conn.execute("SELECT count(*) AS n FROM operators").fetchone()["n"] == 0
