"""`pulse infra`: start, stop and inspect the local Kafka and PostgreSQL/TimescaleDB (services/infra/)."""

from __future__ import annotations

import sys

import click

from services.cli.common import Context, pass_ctx
from services.core.settings import Settings


@click.group()
def infra() -> None:
    """Local Apache Kafka + PostgreSQL/TimescaleDB for development and tests (no Docker)."""


@infra.command("start")
@click.option(
    "--kafka-brokers",
    type=click.IntRange(1, 9),
    default=None,
    help="Kafka brokers to run here (default: as last started, else one): 3 makes a replicated cluster that "
    "survives one lost broker.",
)
@click.option(
    "--replica",
    is_flag=True,
    default=None,
    help="Also a streaming replica of PostgreSQL (port of PULSE_DATABASE_READ_URL, default 5433) for the API's "
    "reads; once made, started with the rest.",
)
@pass_ctx
def infra_start(ctx: Context, kafka_brokers: int | None, replica: bool | None) -> None:
    """Start the local Kafka (one broker or a cluster) and PostgreSQL, with its replica once made (idempotent);
    returns when each accepts connections."""
    from services.infra.kafka import components_env, kafka_nodes
    from services.infra.local import start_all

    for name, done in start_all(ctx.settings, kafka_brokers, replica=replica):
        click.echo(f"{name}: {done}")
    _print_status(ctx.settings)
    if env := components_env(kafka_nodes(ctx.settings)):
        click.echo(f"components use this cluster with: {env}")


@infra.command("stop")
@pass_ctx
def infra_stop(ctx: Context) -> None:
    """Stop every local service: the Kafka nodes, PostgreSQL and its replica."""
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
        click.echo(f"{st.name:<18} {state:<22} {st.address:<18} {st.detail}")
    return all_up
