"""`pulse users` and `pulse tokens`: operators (admin, viewer, district, commune) and their API tokens."""

from __future__ import annotations

import click

from services.cli.common import Context, account_op, pass_ctx


@click.group()
def users() -> None:
    """Operators: admin and viewer (the province), district (a former district's units), commune (its units)."""


@users.command("add")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["admin", "viewer", "district", "commune"]), required=True)
@click.option("--unit", "unit_codes", multiple=True, help="commune role: repeat for several units")
@click.option("--district", "district_code", help="district role: the former district's code (e.g. 398)")
@click.option("--unit-set", help="set of the --unit codes or the --district; default: PULSE_UNIT_SET")
@click.option("--password", help="for the dashboard login; omit for a token-only account")
@pass_ctx
def users_add(
    ctx: Context,
    username: str,
    role: str,
    unit_codes: tuple[str, ...],
    district_code: str | None,
    unit_set: str | None,
    password: str | None,
) -> None:
    from services.core.accounts import create_operator

    account_op(
        ctx,
        create_operator,
        username=username,
        role=role,
        unit_set=unit_set or ctx.settings.unit_set,
        unit_codes=list(unit_codes),
        password=password,
        district_code=district_code,
    )
    scope = f" {district_code}" if district_code else ""
    click.echo(f"operator {username} ({role}{scope}) added")


@click.group()
def tokens() -> None:
    """Operators' API tokens."""


@tokens.command("create")
@click.option("--username", required=True)
@click.option("--label", default="", help="what the token is for")
@pass_ctx
def tokens_create(ctx: Context, username: str, label: str) -> None:
    """Create an API token; prints it as the last line (only its hash is stored)."""
    from services.core.accounts import create_api_token

    token = account_op(ctx, create_api_token, username=username, label=label)
    click.echo(f"API token for {username} (shown once):")
    click.echo(token)
