"""`pulse migrate` and `pulse topics`: the database schema (with the shipped unit sets) and the Kafka topics."""

from __future__ import annotations

import click

from services.cli.common import Context, fail, pass_ctx


@click.command()
@pass_ctx
def migrate(ctx: Context) -> None:
    """Apply schema migrations and load the shipped unit sets (idempotent)."""
    from services.core import sealing
    from services.core.db import connect
    from services.core.migrate import MigrationError, ensure_app_login, ensure_grafana_login
    from services.core.migrate import migrate as run

    with connect(ctx.settings) as conn:
        try:
            report = run(conn, timezone=ctx.settings.timezone, keys=sealing.keyring_or_none(ctx.settings))
        except (MigrationError, sealing.SealingError) as exc:
            fail(str(exc))
        if ctx.settings.api_database_url:
            try:
                report.notes.append(ensure_app_login(conn, ctx.settings.api_database_url))
            except MigrationError as exc:
                fail(str(exc))
        if ctx.settings.grafana_db_password:
            report.notes.append(ensure_grafana_login(conn, ctx.settings.grafana_db_password.get_secret_value()))
    for name in report.applied:
        click.echo(f"applied {name}")
    if report.units_changed:
        click.echo(f"reference units: {report.units_changed} row(s) written")
    for note in report.notes:
        click.echo(note)
    if not report.changed_anything:
        click.echo("schema up to date; nothing to do")


@click.command()
@pass_ctx
def topics(ctx: Context) -> None:
    """Create the Kafka topics that are missing."""
    import asyncio

    from services.core.kafka import ALL_TOPICS, ensure_topics, topic

    created = asyncio.run(ensure_topics(ctx.settings))
    for name in (topic(ctx.settings, n) for n in ALL_TOPICS):
        click.echo(f"{name}: {'created' if name in created else 'exists'}")
