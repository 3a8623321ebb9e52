"""`/api/v1/me`'s `unit_set_today` (issue 28: `make demo` opened the dashboard on 2024's 37 communes although the
set valid today is 2025): the set whose validity holds on the API's date in `PULSE_TIMEZONE`, if the operator can read
a unit of it; `unit_set` stays `PULSE_UNIT_SET`, the set unit codes are read in (SPEC §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.me import unit_set_today
from services.core import accounts
from services.core.auth import Principal
from services.core.settings import Settings


def me_at(settings: Settings, token: str, now: datetime) -> dict:
    with TestClient(create_app(settings, clock=lambda: now)) as client:
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def tokens(conn: psycopg.Connection) -> dict[str, str]:
    accounts.create_operator(conn, username="tinh", role="admin", unit_set="2024", unit_codes=[], password=None)
    # Hoằng Giang of 2024: merged with others into a 2025 xã, so nothing of 2025 is wholly its own
    accounts.create_operator(
        conn, username="xa.hoang.giang", role="commune", unit_set="2024", unit_codes=["15871"], password=None
    )
    accounts.create_operator(
        conn, username="huyen", role="district", unit_set="2025-01", unit_codes=[], password=None, district_code="399"
    )
    return {u: accounts.create_api_token(conn, username=u) for u in ("tinh", "xa.hoang.giang", "huyen")}


@pytest.mark.db
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 25, 3, 0, tzinfo=UTC), "2025"),
        (datetime(2024, 6, 1, 3, 0, tzinfo=UTC), "2024"),
        (datetime(2025, 3, 1, 3, 0, tzinfo=UTC), "2025-01"),
        # 1 July 2025 began at 17:00 UTC on 30 June in Hoằng Hóa: the local date decides, not UTC's
        (datetime(2025, 6, 30, 17, 30, tzinfo=UTC), "2025"),
        (datetime(2025, 6, 30, 16, 30, tzinfo=UTC), "2025-01"),
    ],
)
def test_the_set_in_force_on_the_apis_local_date(
    settings: Settings, tokens: dict[str, str], now: datetime, expected: str
) -> None:
    me = me_at(settings, tokens["tinh"], now)
    assert me["unit_set_today"] == expected
    assert me["unit_set"] == settings.unit_set == "2024"  # how codes are read: unchanged
    assert expected in me["unit_sets"]


@pytest.mark.db
def test_only_a_set_the_operator_can_read(settings: Settings, tokens: dict[str, str]) -> None:
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    # no unit of 2025 is the commune operator's: none, so the dashboard falls back to PULSE_UNIT_SET
    assert me_at(settings, tokens["xa.hoang.giang"], now)["unit_set_today"] is None
    assert me_at(settings, tokens["xa.hoang.giang"], datetime(2024, 6, 1, tzinfo=UTC))["unit_set_today"] == "2024"
    # a district operator holds its former district's units in every set, 2025's 8 xã among them
    assert me_at(settings, tokens["huyen"], now)["unit_set_today"] == "2025"


def _set(name: str, start: date | None, end: date | None, units: int = 3) -> dict:
    return {"unit_set": name, "valid_from": start, "valid_to": end, "units": units}


def test_sets_without_dates_empty_sets_and_overlaps() -> None:
    admin = Principal(1, "tinh", "admin", None)
    today = date(2026, 1, 15)
    undated = _set("huyen-cu", None, None)
    assert unit_set_today([undated], admin, today) is None  # no known validity: never "valid today"
    assert unit_set_today([_set("a", date(2025, 7, 1), None, units=0)], admin, today) is None  # nothing to show
    assert unit_set_today([_set("a", None, date(2026, 1, 15))], admin, today) is None  # valid_to is exclusive
    assert unit_set_today([_set("a", date(2026, 1, 15), None)], admin, today) == "a"
    overlapping = [_set("old", None, None), _set("a", date(2025, 7, 1), None), _set("b", date(2026, 1, 1), None)]
    assert unit_set_today(overlapping, admin, today) == "b"  # the one that began last
    scoped = Principal(2, "xa", "commune", frozenset({("a", "X1")}))
    assert unit_set_today(overlapping, scoped, today) == "a"
