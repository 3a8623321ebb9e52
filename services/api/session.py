"""`/api/v1/session`: the dashboard's log-in and log-out (SPEC §10 "a session cookie").

The session id travels only in an HttpOnly, SameSite=Strict cookie; the page gets the CSRF token it must send
with changes from the log-in answer and from `/api/v1/me`. Failed log-ins are limited per username and per
client address (a moving 15-minute window in this process) so a password cannot be guessed by brute force.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from services.api.deps import SESSION_COOKIE, USERNAME, AppSettings, Conn, Now, Reader, actor_of
from services.api.me import me_item
from services.core import accounts, audit, auth
from services.core.http import CredentialFailures, client_address

router = APIRouter(prefix="/api/v1/session", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME)
    password: str = Field(min_length=1, max_length=256)


@router.post(
    "",
    summary="Log in to the dashboard: sets the session cookie (no token needed for this one route)",
    responses={401: {"description": "wrong username or password"}, 429: {"description": "too many failures"}},
)
def log_in(request: Request, response: Response, body: LoginIn, settings: AppSettings, conn: Conn, now: Now) -> dict:
    address = client_address(request)
    keys = [f"user:{body.username.lower()}", f"addr:{address}"]
    failures: CredentialFailures = request.app.state.login_failures
    failures.refuse_if_blocked(*keys)
    session_id = accounts.open_session(
        conn, username=body.username, password=body.password, idle_hours=settings.session_idle_hours
    )
    if session_id is None:
        claimed = audit.Actor("dashboard", account=body.username, address=address)
        audit.record(conn, claimed, "login.failed")
        if failures.failed(*keys):
            audit.record(conn, claimed, "login.locked", details={"minutes": 15})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "username or password: wrong")
    principal = accounts.principal_for_session(conn, session_id, idle_hours=settings.session_idle_hours)
    assert principal is not None
    audit.record(conn, actor_of(request, principal), "login", f"operators:{principal.operator_id}")
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(settings.session_idle_hours * 3600),
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return {**me_item(principal, settings), "now": now.isoformat(), "csrf_token": auth.csrf_token(session_id)}


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Log out: ends the session")
def log_out(principal: Reader, request: Request, response: Response, conn: Conn, settings: AppSettings) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is not None:
        with audit.acting(conn, actor_of(request, principal)):
            accounts.close_session(conn, session_id)
            audit.record(conn, None, "logout", f"operators:{principal.operator_id}")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=settings.cookie_secure, samesite="strict")
