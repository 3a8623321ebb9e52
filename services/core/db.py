"""Database connections. Every query is parameterized; nothing here builds SQL from values.

The API's routes are plain functions that FastAPI runs in its thread pool, so one synchronous psycopg pool
serves them, and the CLI, the API and workers share the same service functions (no async twins).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from services.core.settings import Settings

# Every connection the product opens returns rows as dicts (dict_row).
DbConn: TypeAlias = psycopg.Connection[dict[str, Any]]


def connect(settings: Settings, *, autocommit: bool = False) -> DbConn:
    return psycopg.connect(settings.database_url, autocommit=autocommit, row_factory=dict_row)


def pool(settings: Settings, *, min_size: int = 1, max_size: int = 10, name: str = "pulse") -> ConnectionPool[DbConn]:
    """An unopened pool of autocommit connections; `pool.open(wait=...)` or use it as a context manager."""
    return ConnectionPool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        kwargs={"row_factory": dict_row, "autocommit": True},
    )
