"""Database connections. Every query is parameterized; nothing here builds SQL from values.

The API's routes are plain functions that FastAPI runs in its thread pool, so one synchronous psycopg pool
serves them, and the CLI, the API and workers share the same service functions (no async twins).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeAlias

import psycopg
from psycopg import sql
from psycopg.adapt import PyFormat
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps
from psycopg_pool import ConnectionPool
from pydantic_core import to_json

from services.core.settings import Settings

# Every connection the product opens returns rows as dicts (dict_row).
DbConn: TypeAlias = psycopg.Connection[dict[str, Any]]


def connect(settings: Settings, *, autocommit: bool = False) -> DbConn:
    return psycopg.connect(settings.database_url, autocommit=autocommit, row_factory=dict_row)


@contextlib.contextmanager
def one_snapshot(conn: DbConn) -> Iterator[None]:
    """The statements inside see one snapshot: a repeatable-read transaction, unless `conn` is already in a
    transaction (whose isolation then holds: the caller's snapshot, say)."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        yield
        return
    # Set on the connection, the level goes out with BEGIN (a `SET TRANSACTION` after it was one more round trip
    # on every snapshot); given back after, for the pool's next user.
    kept = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level = kept


def one_row(conn: DbConn, query: str, params: Any = None) -> dict[str, Any]:
    """The row of a statement that always answers exactly one (an aggregate, EXISTS, a function's result, a
    one-row table)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise LookupError(f"no row from a statement that always answers one: {query[:60]}")
    return row


def pool(
    settings: Settings,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "pulse",
    url: str | None = None,
    check: bool = False,
    timeout: float = 30.0,
) -> ConnectionPool[DbConn]:
    """An unopened pool of autocommit connections (to `url`, default the primary); `pool.open(wait=...)` or use it
        as a context manager. `check`: each connection is tried before it is handed out (one round trip), so a
        server that went away is noticed at once instead of failing the request. `timeout`: how long a caller may wait
    for a connection before `PoolTimeout`."""
    return ConnectionPool(
        url or settings.database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        kwargs={"row_factory": dict_row, "autocommit": True},
        check=ConnectionPool.check_connection if check else None,
        timeout=timeout,
    )


def _json(value: Any) -> bytes:
    return value if isinstance(value, bytes) else to_json(value)


# bytea by type name would be psycopg's DB-API `Binary` dumper, Python code; this is the C one it uses for bytes.
_BYTES_BINARY = psycopg.adapters.get_dumper(bytes, PyFormat.BINARY)


def copy_in(
    conn: DbConn, table: str, columns: Sequence[str], types: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Binary COPY of `rows` (tuples in `columns` order, of PostgreSQL `types`) into `table`: the fastest way in.
    Dicts go into json/jsonb columns written by pydantic-core; bytes are JSON already written, taken as they are."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur:
        set_json_dumps(_json, cur)
        cur.adapters.register_dumper(bytes, _BYTES_BINARY)  # also what "bytea" names from now on, for this cursor
        with cur.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
