"""`pulse`: the one command-line interface of commune-pulse.

Each sub-command parses its arguments, loads the settings once and calls a service function; the work itself
lives in the packages (services/core, services/infra, services/api, camera_gateway, app_events).

This package is laid out like Sentry's `runner/commands/`: this module builds the top-level group and
registers one module's group (or top-level commands) per line below; `common.py` holds what the modules
share (the settings context, the database connection, the one-line failure). A new group is one module with
a `@click.group()` and one `cli.add_command(...)` line here. Commands import their heavy dependencies inside
the function, so that `pulse --help` stays fast and a command runs without the extras it does not use.
"""

from __future__ import annotations

import os
import sys

import click

from services.cli import (
    apps,
    audit,
    cameras,
    channels,
    components,
    config,
    devices,
    gateways,
    infra,
    keys,
    maintenance,
    report,
    schema,
    units,
    users,
)
from services.core.settings import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """commune-pulse: camera uptime and citizen-app engagement per commune."""


# `pulse --help` lists commands by name, whatever the order here.
cli.add_command(infra.infra)
cli.add_command(schema.migrate)
cli.add_command(schema.topics)
cli.add_command(config.show_config)
cli.add_command(units.units)
cli.add_command(report.report)
cli.add_command(cameras.cameras)
cli.add_command(gateways.gateways)
cli.add_command(devices.devices)
cli.add_command(apps.apps)
cli.add_command(users.users)
cli.add_command(users.tokens)
cli.add_command(audit.audit)
cli.add_command(keys.keys)
cli.add_command(maintenance.maintenance)
cli.add_command(channels.channels)
cli.add_command(components.api)
cli.add_command(components.camera_gateway)
cli.add_command(components.app_events)
cli.add_command(components.ingest)
cli.add_command(components.alerts)
cli.add_command(components.up)
cli.add_command(components.simulate)


def main() -> None:
    from services.infra.process import InfraError

    # Every connection says which command opened it (pg_stat_activity; the audit trail's actor for a change no
    # person is behind, such as `pulse migrate`'s reference units).
    os.environ.setdefault("PGAPPNAME", " ".join(["pulse", *sys.argv[1:2]]))
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except InfraError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
