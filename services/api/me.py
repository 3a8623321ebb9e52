"""`/api/v1/me`: who the caller is, with role and units (the dashboard uses it to shape its menus)."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import Reader

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.get("/me", summary="The authenticated operator")
def me(principal: Reader) -> dict:
    units = None if principal.units is None else [{"unit_set": s, "unit_code": c} for s, c in sorted(principal.units)]
    return {"username": principal.username, "role": principal.role, "units": units}
