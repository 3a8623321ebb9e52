"""`/api/v1/me`: who the caller is, with role and units (the dashboard uses it to shape its menus), the
display settings the dashboard needs, and — when the caller uses the session cookie — the CSRF token.

`unit_set` is `PULSE_UNIT_SET`, the set in which unit codes without a set are read (SPEC §3); `unit_set_today` is
the set whose validity holds today (the API's clock, in `PULSE_TIMEZONE`) if the caller can read a unit of it —
the set the dashboard opens on when the browser has no saved choice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from fastapi import APIRouter, Request

from services.api.deps import SESSION_COOKIE, AppSettings, Conn, Now, Reader
from services.core import auth
from services.core.auth import Principal
from services.core.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["auth"])


def me_item(principal: Principal, settings: Settings) -> dict:
    units = None if principal.units is None else [{"unit_set": s, "unit_code": c} for s, c in sorted(principal.units)]
    return {
        "username": principal.username,
        "role": principal.role,
        "units": units,
        "timezone": settings.timezone,
        "unit_set": settings.unit_set,
    }


def unit_set_today(sets: Iterable[Mapping[str, Any]], principal: Principal, today: date) -> str | None:
    """The set valid on `today` (`valid_from` ≤ today < `valid_to`, an open end unbounded) in which the caller
    can read at least one unit; None when there is none. A set with neither date has no known validity and is never
    valid today; of several valid (overlapping imports), the one that began last."""
    current = [
        r
        for r in sets
        if (r["valid_from"] is not None or r["valid_to"] is not None)
        and (r["valid_from"] is None or r["valid_from"] <= today)
        and (r["valid_to"] is None or today < r["valid_to"])
        and r["units"]
        and (principal.units is None or principal.unit_codes(r["unit_set"]))
    ]
    if not current:
        return None
    latest = max(current, key=lambda r: (r["valid_from"] or date.min, r["unit_set"]))
    return str(latest["unit_set"])


@router.get("/me", summary="The authenticated operator")
def me(principal: Reader, request: Request, conn: Conn, settings: AppSettings, now: Now) -> dict:
    item = me_item(principal, settings)
    item["now"] = now.isoformat()  # the dashboard reckons months and durations on the server's clock
    sets = conn.execute(
        "SELECT s.unit_set, s.valid_from, s.valid_to, count(u.code) AS units FROM unit_sets s"
        " LEFT JOIN units u USING (unit_set) GROUP BY s.unit_set ORDER BY s.valid_from NULLS FIRST, s.unit_set"
    ).fetchall()
    item["unit_sets"] = [r["unit_set"] for r in sets]
    # the set valid today (where the dashboard opens); `unit_set` stays the set unit codes are read in
    item["unit_set_today"] = unit_set_today(sets, principal, now.astimezone(settings.tz).date())
    # what the unit-set switch shows: when each set was in force, and how many units it has
    item["unit_set_info"] = [
        {
            "unit_set": r["unit_set"],
            "valid_from": r["valid_from"] and r["valid_from"].isoformat(),
            "valid_to": r["valid_to"] and r["valid_to"].isoformat(),
            "units": r["units"],
        }
        for r in sets
    ]
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is not None and request.headers.get("authorization") is None:
        item["csrf_token"] = auth.csrf_token(session_id)
    return item
