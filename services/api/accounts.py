"""`/api/v1/users` and `/api/v1/tokens` (admins, issue 31): who has access, and taking it back — an account disabled
(its sessions end, its tokens are refused from the next request on) or enabled again, an API token revoked. The
same operations as `pulse users disable|enable` and `pulse tokens revoke`, recorded in the audit trail as the admin's.
Accounts are made, and their roles and units set, with `pulse users` on the server."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from services.api.deps import USERNAME, ActingConn, AdminOnly, ReadConn
from services.core import accounts
from services.core.accounts import AccountError
from services.core.auth import Principal
from services.core.db import DbConn

router = APIRouter(prefix="/api/v1", tags=["accounts"])
UsernamePath = Annotated[str, Path(pattern=USERNAME)]


def _as_json(row: dict) -> dict:
    """A listing's row as the API answers it: times in ISO 8601 (the listings select nothing secret)."""
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in row.items()}


@router.get("/users", summary="Every operator: role, scope, whether it may log in, what it holds open (admin)")
def list_users(principal: AdminOnly, conn: ReadConn) -> dict:
    return {"items": [_as_json(o) for o in accounts.list_operators(conn)]}


def _set_disabled(principal: Principal, conn: DbConn, username: str, disabled: bool) -> dict:
    if disabled and username == principal.username:
        raise HTTPException(status.HTTP_409_CONFLICT, "username: you cannot disable your own account")
    try:
        accounts.set_disabled(conn, username=username, disabled=disabled)
    except AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"username: {exc}") from None
    return {"username": username, "disabled": disabled}


@router.post("/users/{username}/disable", summary="Take an operator's access away now (admin)")
def disable_user(principal: AdminOnly, conn: ActingConn, username: UsernamePath) -> dict:
    return _set_disabled(principal, conn, username, True)


@router.post("/users/{username}/enable", summary="Give a disabled operator its access back (admin)")
def enable_user(principal: AdminOnly, conn: ActingConn, username: UsernamePath) -> dict:
    return _set_disabled(principal, conn, username, False)


@router.get("/tokens", summary="API tokens, newest first (never their value) (admin)")
def list_tokens(principal: AdminOnly, conn: ReadConn) -> dict:
    return {"items": [_as_json(t) for t in accounts.list_tokens(conn)]}


@router.post("/tokens/{token_id}/revoke", summary="Revoke an API token now (admin)")
def revoke_token(principal: AdminOnly, conn: ActingConn, token_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> dict:
    try:
        accounts.revoke_token(conn, token_id=token_id)
    except AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"token_id: {exc}") from None
    return {"token_id": token_id, "revoked": True}
