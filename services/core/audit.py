"""The audit trail (issue 31, SPEC §12): who changed what, when, before → after, in a hash chain.

The database writes the rows (migration 0020): row triggers on the tables people change record each change with
its before and after (secrets never), and `audit_append()` is the one way in, for what changes no row (a log-in, a
failed one, a refusal, a camera import's summary). Who did it is what the application set for the transaction
(`acting`): the account, its token, the address, how (API, dashboard, CLI). A change made in SQL by hand is still
recorded, as the database user and the program that made it.

Each row's hash covers its content and the previous row's hash (`row_hash`, the same computation as the SQL
`audit_hash`), and `audit_head` keeps the last: `verify` recomputes the chain and names the first row that does not
hold — an edit, a deletion in the middle, or a cut tail.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.core.db import DbConn, one_snapshot

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Actor:
    """Who acts. `via`: "api" (a token), "dashboard" (a session), "cli" (a command on the server)."""

    via: str
    account: str | None = None
    operator_id: int | None = None
    token_id: int | None = None
    address: str | None = None
    os_user: str | None = None
    host: str | None = None

    def as_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, ensure_ascii=False)


def cli_actor() -> Actor:
    """A command run on the server: the system account that ran it, and where."""
    return Actor(via="cli", os_user=getpass.getuser(), host=socket.gethostname())


def set_actor(conn: DbConn, actor: Actor, *, whole_session: bool = False) -> None:
    """Who the changes made on `conn` are by: for its current transaction, or (a CLI command's own connection) for
    as long as it is open."""
    conn.execute("SELECT set_config('pulse.actor', %s, %s)", (actor.as_json(), not whole_session))


@contextlib.contextmanager
def acting(conn: DbConn, actor: Actor) -> Iterator[DbConn]:
    """A transaction whose changes are recorded as `actor`'s: they and their audit rows commit together."""
    with conn.transaction():
        set_actor(conn, actor)
        yield conn


def record(
    conn: DbConn, actor: Actor | None, action: str, obj: str = "", details: dict[str, Any] | None = None
) -> None:
    """One entry for what changes no audited row. With `actor` None, whoever `conn` already acts as."""
    with contextlib.ExitStack() as stack:
        if actor is not None:
            stack.enter_context(acting(conn, actor))
        conn.execute(
            "SELECT audit_append(%s, %s, %s::jsonb)",
            (action, obj, json.dumps(details or {}, ensure_ascii=False, default=str)),
        )


def row_hash(prev: str, seq: int, at: datetime, actor: str, action: str, obj: str, details: str) -> str:
    """The hash `audit_hash` stores: SHA-256 over the fields, one per line; `actor` and `details` in jsonb's
    canonical text form, `at` as microseconds since 1970."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    text = "\n".join([prev, str(seq), str(micros), actor, action, obj, details])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    rows: int
    head: str  # the last row's hash: note it down (the briefing prints it) to catch a chain rewritten from the start
    bad_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_seq is None


_ROWS = "SELECT seq, at, actor::text, action, object, details::text, prev_hash, hash FROM audit_log ORDER BY seq"


def verify(conn: DbConn) -> Verdict:
    """Recompute the chain from the first row: each row's hash, its link to the row before, its number, and the
    head. The first row that does not hold, and why."""
    prev, expected_seq, rows = "", 1, 0
    with one_snapshot(conn), conn.cursor(name="audit_verify") as cur:  # rows and head as of one moment, streamed
        cur.execute(_ROWS)
        for r in cur:
            seq = r["seq"]
            if seq != expected_seq:
                return Verdict(rows, prev, expected_seq, f"row {expected_seq} is missing (the next is {seq})")
            if r["prev_hash"] != prev:
                return Verdict(rows, prev, seq, "its link to the row before does not match (a row removed or altered)")
            if row_hash(prev, seq, r["at"], r["actor"], r["action"], r["object"], r["details"]) != r["hash"]:
                return Verdict(rows, prev, seq, "its content does not match its hash (altered)")
            prev, expected_seq, rows = r["hash"], seq + 1, rows + 1
        head = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
    if head is None or (head["seq"], head["hash"]) != (rows, prev):
        said = f"{head['seq']}" if head else "none"
        return Verdict(rows, prev, rows + 1, f"the head says the last row is {said}: rows after {rows} were removed")
    return Verdict(rows, prev)


def entries(
    conn: DbConn,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    obj: str | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first, filtered: `actor` matches the account, the system user or the database user;
    `action` and `obj` match from the start ("operators." lists every change of an operator)."""
    return conn.execute(
        """
        SELECT seq, at, actor, action, object, details, hash FROM audit_log
        WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s)
          AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
          AND (%(actor)s::text IS NULL OR %(actor)s IN (actor->>'account', actor->>'os_user', actor->>'db_user'))
          AND (%(action)s::text IS NULL OR starts_with(action, %(action)s))
          AND (%(object)s::text IS NULL OR starts_with(object, %(object)s))
          AND (%(before)s::bigint IS NULL OR seq < %(before)s)
        ORDER BY seq DESC LIMIT %(limit)s
        """,
        {
            "since": since,
            "until": until,
            "actor": actor,
            "action": action,
            "object": obj,
            "before": before_seq,
            "limit": limit,
        },
    ).fetchall()
