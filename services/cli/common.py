"""What the command modules share: the settings (loaded once, on first use), a database connection, and the
one-line failure that every command uses for an operator's mistake (`error: …` on stderr, exit 1).

Heavy imports stay inside the functions, as in the commands, so that `pulse --help` loads only click and the
settings.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click

from services.core.settings import Settings, load_settings


class Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def local_time(ctx: Context, t: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the operators read it (PULSE_TIMEZONE); "-" when there is none."""
    return t.astimezone(ctx.settings.tz).strftime(fmt) if t else "-"


def db(ctx: Context):
    """A connection whose changes the audit trail records as this command's (the system user who ran it)."""
    from services.core import audit
    from services.core.db import connect

    conn = connect(ctx.settings, autocommit=True)
    audit.set_actor(conn, audit.cli_actor(), whole_session=True)
    return conn


def read_db(ctx: Context):
    """A connection for reading only: to the replica of PULSE_DATABASE_READ_URL when one is set and answers, else
    to the primary — and then a line on stderr says so, as the API's `X-Pulse-Reads` does."""
    import psycopg

    from services.core.db import connect

    url = ctx.settings.database_read_url
    if url:
        try:
            return connect(ctx.settings.model_copy(update={"database_url": url}), autocommit=True)
        except psycopg.OperationalError as exc:
            click.echo(f"the replica does not answer ({exc.__class__.__name__}); reading from the primary", err=True)
    return db(ctx)


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def account_op(ctx: Context, operation, **kwargs):
    """Run one registry operation in its own connection; its error (AccountError, or ValueError naming the
    field) becomes one line and exit 1."""
    from services.core.accounts import AccountError

    try:
        with db(ctx) as conn:
            return operation(conn, **kwargs)
    except (AccountError, ValueError) as exc:
        fail(str(exc))
