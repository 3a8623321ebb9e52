"""`/api/v1/me`: who the caller is, with role and units (the dashboard uses it to shape its menus), the
display settings the dashboard needs, and — when the caller uses the session cookie — the CSRF token."""

from __future__ import annotations

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


@router.get("/me", summary="The authenticated operator")
def me(principal: Reader, request: Request, conn: Conn, settings: AppSettings, now: Now) -> dict:
    item = me_item(principal, settings)
    item["now"] = now.isoformat()  # the dashboard reckons months and durations on the server's clock
    sets = conn.execute(
        "SELECT s.unit_set, s.valid_from, s.valid_to, count(u.code) AS units FROM unit_sets s"
        " LEFT JOIN units u USING (unit_set) GROUP BY s.unit_set ORDER BY s.valid_from NULLS FIRST, s.unit_set"
    ).fetchall()
    item["unit_sets"] = [r["unit_set"] for r in sets]
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
