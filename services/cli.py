"""`pulse`: the one command-line interface of commune-pulse.

Each sub-command parses its arguments, loads the settings once and calls a service function; the work itself
lives in the packages (services/core, services/infra, services/api, camera_gateway, app_events).
"""

from __future__ import annotations

import sys

import click

from services.core.settings import ConfigError, Settings, load_settings


class _Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings


pass_ctx = click.make_pass_decorator(_Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """commune-pulse: camera uptime and citizen-app engagement per commune."""


@cli.group()
def infra() -> None:
    """Local Apache Kafka + PostgreSQL/TimescaleDB for development and tests (no Docker)."""


@infra.command("start")
@pass_ctx
def infra_start(ctx: _Context) -> None:
    """Start both (idempotent); returns when both accept connections."""
    from services.infra.local import services

    for service in services(ctx.settings):
        click.echo(f"{service.status().name}: {service.start()}")
    _print_status(ctx.settings)


@infra.command("stop")
@pass_ctx
def infra_stop(ctx: _Context) -> None:
    """Stop both."""
    from services.infra.local import services

    for service in reversed(services(ctx.settings)):
        click.echo(f"{service.status().name}: {service.stop()}")


@infra.command("status")
@pass_ctx
def infra_status(ctx: _Context) -> None:
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


def main() -> None:
    from services.infra.local import InfraError

    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except InfraError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
