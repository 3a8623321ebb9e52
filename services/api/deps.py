"""Dependencies every API route uses: a database connection and the authenticated principal with its role.

Dependencies that only look something up are `async def`: FastAPI runs a plain `def` one in a worker thread,
a round trip through the thread pool per dependency per request that waits for the GIL on a busy API (issue 28).

Routes declare what they need with the `Annotated` aliases at the bottom (`Conn`, `Reader`, `AdminOnly`), so a
route without an auth dependency stands out in review, and `tests/api/test_auth.py` checks every route.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic_core import to_json

from services.api.live import Connect, LiveModel
from services.core import accounts, audit, auth
from services.core.auth import Principal, Role
from services.core.db import DbConn
from services.core.http import CredentialFailures, client_address
from services.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An operator's API token (`pulse tokens create`)")


def get_conn(request: Request) -> Iterator[DbConn]:
    with request.app.state.pool.connection() as conn:
        yield conn


Conn = Annotated[DbConn, Depends(get_conn)]


def actor_of(request: Request, principal: Principal | None) -> audit.Actor:
    """Who acts in a request, for the audit trail: the account, the token it used (if any), the address."""
    if principal is None:
        return audit.Actor(None, address=client_address(request))
    return audit.Actor(principal.username, principal.token_id, client_address(request))


def get_acting_conn(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Iterator[DbConn]:
    """For a route that changes something: one transaction, its changes recorded in the audit trail as the
    principal's (services/core/audit.py), committed together."""
    with request.app.state.pool.connection() as conn, audit.acting(conn, actor_of(request, principal)):
        yield conn


READS_HEADER = "X-Pulse-Reads"


def get_read_conn(request: Request, response: Response) -> Iterator[DbConn]:
    """A connection for a route that only reads: the replica's when there is one that answers (services/api/
    reads.py); the answer's `X-Pulse-Reads` header says when it is behind, or when the primary answered instead."""
    with request.app.state.reads.connection() as (conn, said):
        if said is not None:
            response.headers[READS_HEADER] = said
            request.state.reads_said = said  # for a route that answers with a Response of its own (`conditional`)
        yield conn


ReadConn = Annotated[DbConn, Depends(get_read_conn)]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(get_settings)]


async def get_now(request: Request) -> datetime:
    """Wall-clock time from the app's clock (tests move it instead of sleeping)."""
    return request.app.state.clock()


Now = Annotated[datetime, Depends(get_now)]


# Free text an operator types (notes): anything but NUL, which PostgreSQL cannot store in text.
FREE_TEXT = r"^[^\x00]*$"
USERNAME = r"^[A-Za-z0-9._@-]{1,64}$"  # as the operators table allows

SESSION_COOKIE = "pulse_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def current_principal(
    request: Request,
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """An API token (`Authorization: Bearer`) or the dashboard's session cookie. A change made with the cookie
    must also carry the session's CSRF token in `X-CSRF-Token` (a token in a header cannot be forged by
    another site; a cookie can be sent by one). Checked on a connection of its own, given back before the route
    takes its own: a request holding one connection while waiting for a second emptied the pool at ten concurrent
    requests (issue 28)."""
    with request.app.state.pool.connection() as conn:
        return _principal(request, conn, settings, credentials)


def _principal(
    request: Request, conn: DbConn, settings: Settings, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    failures: CredentialFailures = request.app.state.token_failures
    address = f"addr:{client_address(request)}"
    failures.refuse_if_blocked(address)
    if credentials is not None:
        principal = accounts.principal_for_token(conn, credentials.credentials)
        if principal is None:
            _refused_credentials(conn, request, failures, address, "token.refused")
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.principal = principal  # who a refusal (403) is recorded as (app.py)
        return principal
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send Authorization: Bearer <token>, or log in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = accounts.principal_for_session(
        conn, session_id, idle_hours=settings.session_idle_hours, max_hours=settings.session_max_hours
    )
    if principal is None:
        _refused_credentials(conn, request, failures, address, "session.refused")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "session expired or logged out", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal  # who a refusal (403, this CSRF check's too) is recorded as (app.py)
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, auth.csrf_token(session_id)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{CSRF_HEADER}: missing or wrong for this session")
    return principal


def _refused_credentials(
    conn: DbConn, request: Request, failures: CredentialFailures, address: str, action: str
) -> None:
    """A token or session that is wrong, revoked, expired or of a disabled account: one audit entry (and one more
    when this locks the address out; then it is refused before any lookup, so a flood writes no more)."""
    actor = audit.Actor(None, address=client_address(request))
    audit.record(conn, actor, action, details={"path": request.url.path})
    if failures.failed(address):
        audit.record(conn, actor, "credentials.locked", details={"minutes": 15})


def require_role(*roles: Role) -> Callable[[Request, Principal], Awaitable[Principal]]:
    async def check(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.read_only and request.method not in _SAFE_METHODS:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this API token is read-only")
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this (needs {' or '.join(roles)})"
            )
        return principal

    return check


def require_unit(principal: Principal, unit_set: str, code: str) -> None:
    if not principal.can_read_unit(unit_set, code):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"unit {code} of set {unit_set} is outside your units")


Reader = Annotated[Principal, Depends(require_role(*auth.ROLES))]  # every role reads, each within its units
AdminOnly = Annotated[Principal, Depends(require_role("admin"))]


async def get_live(request: Request) -> LiveModel:
    return request.app.state.live


Live = Annotated[LiveModel, Depends(get_live)]


def on_this_connection(conn: DbConn) -> Connect:
    """The live model's way to the database, for a route that already holds a connection."""
    return lambda: contextlib.nullcontext(conn)


def conditional(request: Request, body: dict, *, ignore: tuple[str, ...] = ("as_of",)) -> Response:
    """`body` as JSON with an `ETag` over what it says (leaving out `ignore`: the time it was asked, which changes
    with every request while the figures do not); `304 Not Modified` and no body when the client already holds
    it (`If-None-Match`). The dashboard then keeps what it shows, with nothing sent or drawn again."""
    content = to_json(body)
    tag = hashlib.blake2b(to_json({k: v for k, v in body.items() if k not in ignore}), digest_size=16).hexdigest()
    headers = {"ETag": f'W/"{tag}"', "Cache-Control": "private, no-cache"}
    if said := getattr(request.state, "reads_said", None):
        headers[READS_HEADER] = said
    sent = request.headers.get("if-none-match", "")
    if headers["ETag"] in (t.strip() for t in sent.split(",")):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content, media_type="application/json", headers=headers)


ActingConn = Annotated[DbConn, Depends(get_acting_conn)]
