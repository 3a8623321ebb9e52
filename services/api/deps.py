"""Dependencies every API route uses: a database connection and the authenticated principal with its role.

Routes declare what they need with the `Annotated` aliases at the bottom (`Conn`, `Reader`, `AdminOnly`), so a
route without an auth dependency stands out in review, and `tests/api/test_auth.py` checks every route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.core import accounts
from services.core.auth import Principal, Role
from services.core.db import DbConn
from services.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An operator's API token (`pulse tokens create`)")


def get_conn(request: Request) -> Iterator[DbConn]:
    with request.app.state.pool.connection() as conn:
        yield conn


Conn = Annotated[DbConn, Depends(get_conn)]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(get_settings)]


def get_now(request: Request) -> datetime:
    """Wall-clock time from the app's clock (tests move it instead of sleeping)."""
    return request.app.state.clock()


Now = Annotated[datetime, Depends(get_now)]


def current_principal(
    conn: Conn, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = accounts.principal_for_token(conn, credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this (needs {' or '.join(roles)})"
            )
        return principal

    return check


def require_unit(principal: Principal, unit_set: str, code: str) -> None:
    if not principal.can_read_unit(unit_set, code):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"unit {code} of set {unit_set} is outside your units")


Reader = Annotated[Principal, Depends(require_role("admin", "viewer", "commune"))]
AdminOnly = Annotated[Principal, Depends(require_role("admin"))]
