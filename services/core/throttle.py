"""Failed log-ins counted in PostgreSQL (issue 31), so that every API instance refuses the same guesser: per
username and per client address, over a moving window. Past the limit a log-in is answered 429 with Retry-After
until the oldest failure leaves the window."""

from __future__ import annotations

import math

from fastapi import HTTPException, status

from services.core.db import DbConn, one_row

WINDOW_S = 15 * 60


def retry_after(conn: DbConn, keys: list[str], limit: int) -> int | None:
    """Seconds until one more try is allowed, or None when no key is at its limit."""
    row = one_row(
        conn,
        """
        SELECT max(extract(epoch FROM oldest + make_interval(secs => %(window)s) - now())) AS wait FROM (
            SELECT min(at) AS oldest FROM (
                SELECT key, at, row_number() OVER (PARTITION BY key ORDER BY at DESC) AS newest
                FROM login_failures
                WHERE key = ANY(%(keys)s) AND at > now() - make_interval(secs => %(window)s)
            ) recent
            WHERE newest <= %(limit)s
            GROUP BY key HAVING count(*) >= %(limit)s
        ) full_keys
        """,
        {"keys": keys, "limit": limit, "window": WINDOW_S},
    )
    return None if row["wait"] is None else max(1, math.ceil(row["wait"]))


def refuse_if_blocked(conn: DbConn, keys: list[str], limit: int) -> None:
    wait = retry_after(conn, keys, limit)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed attempts: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def failed(conn: DbConn, keys: list[str], limit: int) -> bool:
    """Count a failure; True when it is the one that locks a key out (the moment to record, once)."""
    was_open = retry_after(conn, keys, limit) is None
    with conn.transaction():
        conn.execute("DELETE FROM login_failures WHERE at < now() - interval '1 day'")
        conn.execute("INSERT INTO login_failures (key) SELECT unnest(%s::text[])", (keys,))
    return was_open and retry_after(conn, keys, limit) is not None
