from services.core import auth
from services.core.units import shipped_units

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
