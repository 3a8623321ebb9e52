"""`pulse infra`: start, stop and inspect the local Kafka and PostgreSQL/TimescaleDB (services/infra/local.py)."""

from __future__ import annotations

import sys

import click

from services.cli.common import Context, pass_ctx
from services.core.settings import Settings


@click.group()
def infra() -> None:
    """Local Apache Kafka + PostgreSQL/TimescaleDB for development and tests (no Docker)."""


@infra.command("start")
@pass_ctx
def infra_start(ctx: Context) -> None:
    """Start both (idempotent); returns when both accept connections."""
    from services.infra.local import services

    for service in services(ctx.settings):
        click.echo(f"{service.status().name}: {service.start()}")
    _print_status(ctx.settings)


@infra.command("stop")
@pass_ctx
def infra_stop(ctx: Context) -> None:
    """Stop both."""
    from services.infra.local import services

    for service in reversed(services(ctx.settings)):
        click.echo(f"{service.status().name}: {service.stop()}")


@infra.command("status")
@pass_ctx
def infra_status(ctx: Context) -> None:
    """Say what runs where; exit 1 if something is down."""
    if not _print_status(ctx.settings):
        sys.exit(1)


def _print_status(settings: Settings) -> bool:
    from services.infra.local import services

    all_up = True
    for service in services(settings):
        st = service.status()
        all_up &= st.running
        state = f"running (pid {st.pid})" if st.running else "stopped"
        click.echo(f"{st.name:<16} {state:<22} {st.address:<18} {st.detail}")
    return all_up
