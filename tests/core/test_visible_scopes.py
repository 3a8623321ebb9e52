"""The units an operator may see are kept per registry version (services/core/accounts.py `_Scopes`), not resolved
again on every request: every change that decides them must still show on the next request — the operator's own
units, a mapping and a unit (migration 0017's counter) — and a change rolled back must not be remembered."""

import psycopg
import pytest

from services.core import accounts

pytestmark = pytest.mark.db
OWN, OTHER = ("2024", "15865"), ("2024", "15928")  # Bút Sơn and Hoằng Đức, which became 2025's 15865 Hoằng Hóa
MERGED = ("2025", "15865")


def sees(conn: psycopg.Connection, token: str) -> frozenset:
    principal = accounts.principal_for_token(conn, token)
    assert principal is not None and principal.units is not None
    return principal.units


def test_every_change_to_what_decides_a_scope_shows_at_once(conn: psycopg.Connection) -> None:
    accounts.create_operator(conn, username="xa", role="commune", unit_set="2025", unit_codes=["15865"], password=None)
    token = accounts.create_api_token(conn, username="xa")
    assert {MERGED, OWN, OTHER} <= sees(conn, token)  # the xã of 2025 and the communes it was made of

    with conn.transaction(force_rollback=True):  # Hoằng Đức no longer part of it
        conn.execute("DELETE FROM unit_mapping WHERE from_set = %s AND from_code = %s AND to_set = '2025'", OTHER)
        assert OWN in sees(conn, token) and OTHER not in sees(conn, token)
    assert OTHER in sees(conn, token)  # rolled back, and not remembered

    operator = conn.execute("SELECT operator_id FROM operators WHERE username = 'xa'").fetchone()["operator_id"]
    add = "INSERT INTO operator_units (operator_id, unit_set, unit_code) VALUES (%s, '2025', '15880')"
    conn.execute(add, (operator,))
    assert ("2025", "15880") in sees(conn, token)
    conn.execute("DELETE FROM operator_units WHERE operator_id = %s AND unit_code = '15880'", (operator,))
    assert ("2025", "15880") not in sees(conn, token)


def test_a_district_operator_follows_its_units(conn: psycopg.Connection) -> None:
    accounts.create_operator(
        conn, username="huyen", role="district", unit_set="2024", unit_codes=[], password=None, district_code="399"
    )
    token = accounts.create_api_token(conn, username="huyen")
    new = ("2024", "99998")
    assert OWN in sees(conn, token) and new not in sees(conn, token)
    with conn.transaction(force_rollback=True):  # a commune added to the district, then moved to another one
        conn.execute("INSERT INTO units (unit_set, code, name, group_code) VALUES ('2024', '99998', 'Xã mới', '399')")
        assert new in sees(conn, token)
        conn.execute(
            "INSERT INTO unit_groups (unit_set, code, name, level, parent_code)"
            " VALUES ('2024', '999', 'Huyện khác', 'district', '38')"
        )
        conn.execute("UPDATE units SET group_code = '999' WHERE unit_set = '2024' AND code = '99998'")
        assert new not in sees(conn, token)
    assert new not in sees(conn, token) and OWN in sees(conn, token)
