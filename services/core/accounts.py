"""Gateways, client apps, operators and their API tokens, in the database (SPEC §3).

Each `create_*` returns the secret once; only its hash is stored. Looking up a principal from a token is here
too, shared by the API's auth dependency and anything else that authenticates operators.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache

from services.core import auth
from services.core.db import DbConn
from services.core.units import groups_of, load_mapping


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Gateway:
    gateway_id: int
    name: str
    units: frozenset[auth.UnitKey]


def _check_units(conn: DbConn, unit_set: str, codes: list[str]) -> None:
    known = {r["code"] for r in conn.execute("SELECT code FROM units WHERE unit_set = %s", (unit_set,))}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise AccountError(f"unknown unit code(s) in set {unit_set}: {', '.join(unknown)}")


def create_gateway(conn: DbConn, *, name: str, unit_set: str, unit_codes: list[str]) -> str:
    if not unit_codes:
        raise AccountError("a gateway needs at least one --unit")
    _check_units(conn, unit_set, unit_codes)
    token = auth.new_token("gateway")
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO gateways (name, token_hash) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
            " RETURNING gateway_id",
            (name, auth.hash_token(token)),
        ).fetchone()
        if row is None:
            raise AccountError(f"a gateway named {name!r} exists already")
        for code in unit_codes:
            conn.execute(
                "INSERT INTO gateway_units (gateway_id, unit_set, unit_code) VALUES (%s, %s, %s)",
                (row["gateway_id"], unit_set, code),
            )
    return token


def gateway_for_token(conn: DbConn, token: str) -> Gateway | None:
    rows = conn.execute(
        "SELECT g.gateway_id, g.name, gu.unit_set, gu.unit_code FROM gateways g"
        " JOIN gateway_units gu USING (gateway_id) WHERE g.token_hash = %s AND g.revoked_at IS NULL",
        (auth.hash_token(token),),
    ).fetchall()
    if not rows:
        return None
    first = rows[0]
    return Gateway(first["gateway_id"], first["name"], frozenset((r["unit_set"], r["unit_code"]) for r in rows))


def revoke(conn: DbConn, *, table: str, name: str) -> None:
    if table not in ("gateways", "apps"):
        raise ValueError(table)
    query = (
        "UPDATE gateways SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
        if table == "gateways"
        else "UPDATE apps SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
    )
    if conn.execute(query, (name,)).rowcount == 0:
        raise AccountError(f"no active {table[:-1]} named {name!r}")


def create_app(conn: DbConn, *, name: str) -> str:
    key = auth.new_token("app")
    row = conn.execute(
        "INSERT INTO apps (name, key_hash) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING RETURNING app_id",
        (name, auth.hash_token(key)),
    ).fetchone()
    if row is None:
        raise AccountError(f"an app named {name!r} exists already")
    return key


def create_operator(
    conn: DbConn,
    *,
    username: str,
    role: str,
    unit_set: str,
    unit_codes: list[str],
    password: str | None,
    district_code: str | None = None,
) -> int:
    """An operator. A commune operator holds `unit_codes` of `unit_set`; a district operator names a district of
    `unit_set` (`district_code`), whose units it holds in every set (resolved when it authenticates)."""
    _check_scope(conn, role, unit_set, unit_codes, district_code)
    if password and (problem := auth.password_problem(password, username)):
        raise AccountError(problem)
    password_hash = auth.hash_password(password) if password else None
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO operators (username, role, password_hash, district_code) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (username) DO NOTHING RETURNING operator_id",
            (username, role, password_hash, district_code or None),
        ).fetchone()
        if row is None:
            raise AccountError(f"an operator named {username!r} exists already")
        operator_id: int = row["operator_id"]
        for code in unit_codes:
            conn.execute(
                "INSERT INTO operator_units (operator_id, unit_set, unit_code) VALUES (%s, %s, %s)",
                (operator_id, unit_set, code),
            )
    return operator_id


def _check_scope(conn: DbConn, role: str, unit_set: str, unit_codes: list[str], district_code: str | None) -> None:
    """What a role needs: a commune operator its units, a district operator its former district, the others
    neither (they see every unit)."""
    if role not in auth.ROLES:
        raise AccountError(f"role must be one of {', '.join(auth.ROLES)}")
    if role == "commune" and not unit_codes:
        raise AccountError("a commune operator needs at least one --unit")
    if role != "commune" and unit_codes:
        scope = "its district's units" if role == "district" else "every unit"
        raise AccountError(f"--unit applies to the commune role only ({role} sees {scope})")
    if role == "district":
        if not district_code:
            raise AccountError("a district operator needs --district")
        _check_district(conn, unit_set, district_code)
    elif district_code:
        raise AccountError(f"--district applies to the district role only, not {role}")
    _check_units(conn, unit_set, unit_codes)


def list_operators(conn: DbConn) -> list[dict]:
    """Every operator with its scope, whether it may log in, when it was disabled, and what it holds open: the
    sessions not expired and the tokens not revoked."""
    return conn.execute(
        "SELECT o.username, o.role, o.district_code, o.password_hash IS NOT NULL AS has_password, o.created_at,"
        " o.disabled_at,"
        " ARRAY(SELECT u.unit_set || '/' || u.unit_code FROM operator_units u WHERE u.operator_id = o.operator_id"
        "       ORDER BY 1) AS units,"
        " (SELECT count(*) FROM sessions s WHERE s.operator_id = o.operator_id AND s.expires_at > now()) AS sessions,"
        " (SELECT count(*) FROM api_tokens t WHERE t.operator_id = o.operator_id AND t.revoked_at IS NULL) AS tokens"
        " FROM operators o ORDER BY o.username"
    ).fetchall()


def set_password(conn: DbConn, *, username: str, password: str, keep_session: str | None = None) -> None:
    """A new password (checked by `auth.password_problem`); the operator's other sessions end (`keep_session`: the
    hash of the one it was changed from, which stays)."""
    if problem := auth.password_problem(password, username):
        raise AccountError(problem)
    with conn.transaction():
        row = conn.execute(
            "UPDATE operators SET password_hash = %s WHERE username = %s RETURNING operator_id",
            (auth.hash_password(password), username),
        ).fetchone()
        if row is None:
            raise AccountError(f"no operator named {username!r}")
        conn.execute(
            "DELETE FROM sessions WHERE operator_id = %s AND session_hash IS DISTINCT FROM %s",
            (row["operator_id"], keep_session),
        )


def set_disabled(conn: DbConn, *, username: str, disabled: bool) -> None:
    """Disable an operator — its sessions end and its tokens are refused from the next request on (authentication
    reads `disabled_at` every time) — or enable it again (its tokens work again; it logs in anew)."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE operators SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) END"
            " WHERE username = %s RETURNING operator_id",
            (disabled, username),
        ).fetchone()
        if row is None:
            raise AccountError(f"no operator named {username!r}")
        if disabled:
            conn.execute("DELETE FROM sessions WHERE operator_id = %s", (row["operator_id"],))


def set_scope(
    conn: DbConn,
    *,
    username: str,
    role: str | None,
    unit_set: str,
    unit_codes: list[str],
    district_code: str | None,
) -> None:
    """Change an operator's role (None: keep it) and the units or former district it holds, checked as
    `create_operator` checks them; in force from its next request."""
    with conn.transaction():
        found = conn.execute(
            "SELECT operator_id, role FROM operators WHERE username = %s FOR UPDATE", (username,)
        ).fetchone()
        if found is None:
            raise AccountError(f"no operator named {username!r}")
        role = role or found["role"]
        _check_scope(conn, role, unit_set, unit_codes, district_code)
        conn.execute(
            "UPDATE operators SET role = %s, district_code = %s WHERE operator_id = %s",
            (role, district_code or None, found["operator_id"]),
        )
        conn.execute("DELETE FROM operator_units WHERE operator_id = %s", (found["operator_id"],))
        for code in unit_codes:
            conn.execute(
                "INSERT INTO operator_units (operator_id, unit_set, unit_code) VALUES (%s, %s, %s)",
                (found["operator_id"], unit_set, code),
            )


def list_tokens(conn: DbConn, *, username: str | None = None) -> list[dict]:
    """API tokens (never their value: only its hash is kept), newest first; of one operator when named."""
    return conn.execute(
        "SELECT t.token_id, o.username, t.label, t.created_at, t.last_used_at, t.revoked_at, t.expires_at, t.read_only"
        " FROM api_tokens t JOIN operators o USING (operator_id)"
        " WHERE %(username)s::text IS NULL OR o.username = %(username)s ORDER BY t.token_id DESC",
        {"username": username},
    ).fetchall()


def revoke_token(conn: DbConn, *, token_id: int) -> None:
    """Revoke a token: refused from the next request on. Revoking one already revoked keeps its first date."""
    row = conn.execute(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = %s RETURNING token_id",
        (token_id,),
    ).fetchone()
    if row is None:
        raise AccountError(f"no token {token_id}")


def _check_district(conn: DbConn, unit_set: str, code: str) -> None:
    sets = [
        r["unit_set"]
        for r in conn.execute(
            "SELECT unit_set FROM unit_groups WHERE code = %s AND level = 'district' ORDER BY unit_set", (code,)
        )
    ]
    if unit_set not in sets:
        where = f"sets with district {code}: {', '.join(sets)}" if sets else "no set has it"
        raise AccountError(f"unknown district {code} in set {unit_set} ({where}; choose one with --unit-set)")


def district_units(conn: DbConn, district_code: str) -> list[auth.UnitKey]:
    """A former district's units in every set: the units whose district group it is (`units.groups_of`: their own
    district where the set has districts, else their former district). District codes are the official national
    ones, so one code names the same district in every set."""
    sets = [r["unit_set"] for r in conn.execute("SELECT unit_set FROM unit_sets ORDER BY unit_set")]
    return [
        (unit_set, code)
        for unit_set in sets
        for code, group in groups_of(conn, unit_set, "district").items()
        if group is not None and group.code == district_code
    ]


TOKEN_DAYS = 90  # a token's life unless said otherwise (issue 31)
MAX_TOKEN_DAYS = 366


def create_api_token(
    conn: DbConn, *, username: str, label: str = "", days: int = TOKEN_DAYS, read_only: bool = False
) -> str:
    """A token for `username`, valid `days` days (1 to MAX_TOKEN_DAYS); `read_only`: GET only, whatever the role."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AccountError(f"days: 1 to {MAX_TOKEN_DAYS}")
    token = auth.new_token("operator")
    row = conn.execute(
        "INSERT INTO api_tokens (operator_id, token_hash, label, expires_at, read_only)"
        " SELECT operator_id, %s, %s, now() + make_interval(days => %s), %s FROM operators"
        " WHERE username = %s AND disabled_at IS NULL RETURNING token_id",
        (auth.hash_token(token), label, days, read_only, username),
    ).fetchone()
    if row is None:
        raise AccountError(f"no active operator named {username!r}")
    return token


# Who may see what, joined in one read with the session or token that authenticates a request: the operator, its
# units, and the registry version (migration 0017), which units and mappings bump when they change (with the
# row's xmin: a number that a rolled-back change used is used again by the next one).
_WHO = """
SELECT o.operator_id, o.username, o.role, o.district_code,
       ARRAY(SELECT ARRAY[u.unit_set, u.unit_code] FROM operator_units u WHERE u.operator_id = o.operator_id) AS held,
       (SELECT version || '/' || xmin FROM live_registry) AS registry
"""


class _Scopes:
    """The units each scoped operator may see (`auth.visible_units` over every mapping), kept for one database and
    registry version: resolved on the first request after units or mappings change, not on every request (units
    imported later are still covered at once). Rebuilt, not grown, when the version moves."""

    def __init__(self) -> None:
        self._at: tuple = ()
        self._units: dict[tuple, frozenset[auth.UnitKey]] = {}
        self._lock = threading.Lock()

    def units(self, conn: DbConn, row: dict) -> frozenset[auth.UnitKey]:
        at = (conn.info.host, conn.info.port, conn.info.dbname, row["registry"])
        whose = (row["role"], row["district_code"]) if row["role"] == "district" else tuple(map(tuple, row["held"]))
        with self._lock:
            if self._at != at:
                self._at, self._units = at, {}
            if (found := self._units.get(whose)) is not None:
                return found
        held = district_units(conn, row["district_code"]) if row["role"] == "district" else list(whose)
        visible = auth.visible_units(held, load_mapping(conn))
        with self._lock:
            if self._at == at:
                self._units[whose] = visible
        return visible


_SCOPES = _Scopes()


def _principal(conn: DbConn, row: dict) -> auth.Principal:
    operator_id, username, role, token_id = row["operator_id"], row["username"], row["role"], row.get("token_id")
    units = _SCOPES.units(conn, row) if role in auth.SCOPED_ROLES else None
    return auth.Principal(operator_id, username, role, units, token_id, bool(row.get("read_only")))


def principal_for_token(conn: DbConn, token: str) -> auth.Principal | None:
    row = conn.execute(
        f"{_WHO}, t.token_id, t.read_only,"
        " t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' AS stale"
        " FROM api_tokens t JOIN operators o USING (operator_id)"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND o.disabled_at IS NULL"
        " AND (t.expires_at IS NULL OR t.expires_at > now())",
        (auth.hash_token(token),),
    ).fetchone()
    if row is None:
        return None
    if row["stale"]:  # use recorded at most once a minute: a write on every request would cost more than it tells
        conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE token_id = %s", (row["token_id"],))
    return _principal(conn, row)


def operator_by_password(conn: DbConn, username: str, password: str) -> dict | None:
    row = conn.execute(
        "SELECT operator_id, username, role, password_hash FROM operators WHERE username = %s AND disabled_at IS NULL",
        (username,),
    ).fetchone()
    if row is None or row["password_hash"] is None:
        auth.verify_password(_dummy_hash(), password)  # same work either way: timing does not tell who exists
        return None
    return row if auth.verify_password(row["password_hash"], password) else None


@cache
def _dummy_hash() -> str:
    return auth.hash_password("not a password anyone has")


def open_session(conn: DbConn, *, username: str, password: str, idle_hours: float) -> str | None:
    """Log in: a new session id (returned once; only its hash is stored), or None for a wrong name or password."""
    row = operator_by_password(conn, username, password)
    if row is None:
        return None
    session_id = auth.new_token("session")
    conn.execute("DELETE FROM sessions WHERE expires_at < now()")  # tidy as we go; sessions are few
    conn.execute(
        "INSERT INTO sessions (session_hash, operator_id, expires_at)"
        " VALUES (%s, %s, now() + make_interval(secs => %s))",
        (auth.hash_token(session_id), row["operator_id"], idle_hours * 3600),
    )
    return session_id


def principal_for_session(
    conn: DbConn, session_id: str, *, idle_hours: float, max_hours: float = 24.0
) -> auth.Principal | None:
    """The session's operator while it is used (`idle_hours` since the last request) and no older than `max_hours`."""
    row = conn.execute(
        f"{_WHO}, s.session_hash, s.last_seen_at < now() - interval '1 minute' AS stale"
        " FROM sessions s JOIN operators o USING (operator_id)"
        " WHERE s.session_hash = %s AND s.expires_at > now() AND o.disabled_at IS NULL"
        " AND s.created_at > now() - make_interval(secs => %s)",
        (auth.hash_token(session_id), max_hours * 3600),
    ).fetchone()
    if row is None:
        return None
    if row["stale"]:  # sliding expiry, written at most once a minute (the dashboard polls every few seconds)
        conn.execute(
            "UPDATE sessions SET last_seen_at = now(), expires_at = now() + make_interval(secs => %s)"
            " WHERE session_hash = %s",
            (idle_hours * 3600, row["session_hash"]),
        )
    return _principal(conn, row)


def close_session(conn: DbConn, session_id: str) -> None:
    conn.execute("DELETE FROM sessions WHERE session_hash = %s", (auth.hash_token(session_id),))
