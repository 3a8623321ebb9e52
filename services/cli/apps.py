"""`pulse apps`: register and revoke the client apps that send events, each with its public app key."""

from __future__ import annotations

import click

from services.cli.common import Context, account_op, pass_ctx


@click.group()
def apps() -> None:
    """Client apps (e.g. HoangHoaS Android) and their public app keys."""


@apps.command("add")
@click.option("--name", required=True)
@pass_ctx
def apps_add(ctx: Context, name: str) -> None:
    """Register an app; prints its app key as the last line."""
    from services.core.accounts import create_app

    key = account_op(ctx, create_app, name=name)
    click.echo(f"app {name} added; its key:")
    click.echo(key)


@apps.command("revoke")
@click.option("--name", required=True)
@pass_ctx
def apps_revoke(ctx: Context, name: str) -> None:
    from services.core.accounts import revoke

    account_op(ctx, revoke, table="apps", name=name)
    click.echo("revoked")
