"""`pulse gateways`: register and revoke camera gateways; a gateway's token is printed once, only its hash kept."""

from __future__ import annotations

import click

from services.cli.common import Context, account_op, pass_ctx


@click.group()
def gateways() -> None:
    """Camera gateways and their tokens."""


@gateways.command("add")
@click.option("--name", required=True)
@click.option("--unit", "unit_codes", multiple=True, required=True, help="repeat for several units")
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@pass_ctx
def gateways_add(ctx: Context, name: str, unit_codes: tuple[str, ...], unit_set: str | None) -> None:
    """Register a gateway; prints its token as the last line (only its hash is stored)."""
    from services.core.accounts import create_gateway

    token = account_op(
        ctx, create_gateway, name=name, unit_set=unit_set or ctx.settings.unit_set, unit_codes=list(unit_codes)
    )
    click.echo(f"gateway {name} added; its token (shown once):")
    click.echo(token)


@gateways.command("revoke")
@click.option("--name", required=True)
@pass_ctx
def gateways_revoke(ctx: Context, name: str) -> None:
    from services.core.accounts import revoke

    account_op(ctx, revoke, table="gateways", name=name)
    click.echo("revoked")
