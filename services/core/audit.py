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
    """Who acts (SPEC §12's `actor`, `token_id`, `address`): an account — by API token or dashboard session — or a
    command on the server ("cli:<system user>@<host>")."""

    actor: str | None
    token_id: int | None = None
    address: str | None = None

    def as_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, ensure_ascii=False)


def cli_actor() -> Actor:
    """A command run on the server: the system account that ran it, and where."""
    return Actor(f"cli:{getpass.getuser()}@{socket.gethostname()}")


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
    conn: DbConn,
    actor: Actor | None,
    action: str,
    kind: str = "",
    object_id: object = "",
    details: dict[str, Any] | None = None,
) -> None:
    """One entry for what changes no audited row (`details` become its `after`). With `actor` None, whoever
    `conn` already acts as."""
    with contextlib.ExitStack() as stack:
        if actor is not None:
            stack.enter_context(acting(conn, actor))
        said = json.dumps(details, ensure_ascii=False, default=str) if details else None
        conn.execute("SELECT audit_append(%s, %s, %s, NULL, %s::jsonb)", (action, kind, str(object_id), said))


def row_hash(
    prev: str,
    audit_id: int,
    at: datetime,
    actor: str | None,
    token_id: int | None,
    address: str | None,
    action: str,
    object_kind: str,
    object_id: str,
    before: str | None,
    after: str | None,
) -> str:
    """The hash `audit_hash` stores: SHA-256 over the fields, one per line, NULL written \\N; `before` and `after`
    in jsonb's canonical text form, `at` as microseconds since 1970."""
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    fields = [prev, audit_id, micros, actor, token_id, address, action, object_kind, object_id, before, after]
    text = "\n".join("\\N" if f is None else str(f) for f in fields)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    rows: int
    head: str  # the last row's hash: note it down (the briefing prints it) to catch a chain rewritten from the start
    bad_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_id is None


_ROWS = """
SELECT audit_id, at, actor, token_id, address, action, object_kind, object_id, before::text, after::text,
       prev_hash, hash
FROM audit_log ORDER BY audit_id
"""


def verify(conn: DbConn) -> Verdict:
    """Recompute the chain from the first row: each row's hash, its link to the row before, its number, and the
    head. The first row that does not hold, and why."""
    prev, expected, rows = "", 1, 0
    with one_snapshot(conn), conn.cursor(name="audit_verify") as cur:  # rows and head as of one moment, streamed
        cur.execute(_ROWS)
        for r in cur:
            at = r["audit_id"]
            if at != expected:
                return Verdict(rows, prev, expected, f"row {expected} is missing (the next is {at})")
            if r["prev_hash"] != prev:
                return Verdict(rows, prev, at, "its link to the row before does not match (a row removed or altered)")
            fields = [r[k] for k in _HASHED]
            if row_hash(prev, *fields) != r["hash"]:
                return Verdict(rows, prev, at, "its content does not match its hash (altered)")
            prev, expected, rows = r["hash"], at + 1, rows + 1
        head = conn.execute("SELECT audit_id, hash FROM audit_head").fetchone()
    if head is None or (head["audit_id"], head["hash"]) != (rows, prev):
        said = f"{head['audit_id']}" if head else "none"
        return Verdict(rows, prev, rows + 1, f"the head says the last row is {said}: rows after {rows} were removed")
    return Verdict(rows, prev)


_HASHED = (
    "audit_id", "at", "actor", "token_id", "address", "action", "object_kind", "object_id", "before", "after"
)  # fmt: skip


def entries(
    conn: DbConn,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    obj: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first, filtered: `actor` matches the account (or a command's "cli:…", SQL's "db:…") from
    the start; `action` from the start ("operators." lists every change of an operator); `obj` is a kind, or
    "kind:id" ("operators:7")."""
    kind, _, object_id = (obj or "").partition(":")
    return conn.execute(
        """
        SELECT audit_id, at, actor, token_id, address, action, object_kind, object_id, before, after, hash
        FROM audit_log
        WHERE (%(since)s::timestamptz IS NULL OR at >= %(since)s)
          AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
          AND (%(actor)s::text IS NULL OR starts_with(actor, %(actor)s))
          AND (%(action)s::text IS NULL OR starts_with(action, %(action)s))
          AND (%(kind)s = '' OR object_kind = %(kind)s)
          AND (%(object_id)s = '' OR object_id = %(object_id)s)
          AND (%(before)s::bigint IS NULL OR audit_id < %(before)s)
        ORDER BY audit_id DESC LIMIT %(limit)s
        """,
        {
            "since": since,
            "until": until,
            "actor": actor,
            "action": action,
            "kind": kind,
            "object_id": object_id,
            "before": before_id,
            "limit": limit,
        },
    ).fetchall()
