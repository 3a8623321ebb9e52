"""`/api/v1/session`: the dashboard's log-in and log-out (SPEC §10 "a session cookie").

The session id travels only in an HttpOnly, SameSite=Strict cookie; the page gets the CSRF token it must send
with changes from the log-in answer and from `/api/v1/me`. Failed log-ins are limited per username and per
client address (a moving 15-minute window counted in PostgreSQL, services/core/throttle.py, so every API instance
refuses the same guesser) so a password cannot be guessed by brute force.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from services.api.deps import SESSION_COOKIE, USERNAME, ActingConn, AppSettings, Conn, Now, Reader, actor_of
from services.api.me import me_item
from services.core import accounts, audit, auth, throttle
from services.core.http import client_address

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
    limit = settings.login_failures_per_15min
    throttle.refuse_if_blocked(conn, keys, limit)
    session_id = accounts.open_session(
        conn, username=body.username, password=body.password, idle_hours=settings.session_idle_hours
    )
    if session_id is None:
        claimed = audit.Actor(body.username, address=address)  # who the caller said it was
        audit.record(conn, claimed, "login.failed")
        if throttle.failed(conn, keys, limit):
            audit.record(conn, claimed, "login.locked", details={"minutes": 15})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "username or password: wrong")
    principal = accounts.principal_for_session(conn, session_id, idle_hours=settings.session_idle_hours)
    assert principal is not None
    audit.record(conn, actor_of(request, principal), "login", "operators", principal.operator_id)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(settings.session_idle_hours * 3600),
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite="strict",
        path="/",
    )
    return {**me_item(principal, settings), "now": now.isoformat(), "csrf_token": auth.csrf_token(session_id)}


class PasswordIn(BaseModel):
    current: str = Field(min_length=1, max_length=256)
    new: str = Field(min_length=1, max_length=256)


@router.put(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change one's own password (a dashboard session only): the other sessions end",
    responses={403: {"description": "the current password is wrong, or not a session"}, 422: {"description": "weak"}},
)
def change_password(principal: Reader, request: Request, body: PasswordIn, conn: ActingConn) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if principal.token_id is not None or session_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "log in to the dashboard to change your password")
    if accounts.operator_by_password(conn, principal.username, body.current) is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "current: wrong password")
    try:
        accounts.set_password(
            conn, username=principal.username, password=body.new, keep_session=auth.hash_token(session_id)
        )
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc).replace("password:", "new:", 1)) from None


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Log out: ends the session")
def log_out(principal: Reader, request: Request, response: Response, conn: Conn, settings: AppSettings) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is not None:
        with audit.acting(conn, actor_of(request, principal)):
            accounts.close_session(conn, session_id)
            audit.record(conn, None, "logout", "operators", principal.operator_id)
    secure = settings.session_cookie_secure
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=secure, samesite="strict")
