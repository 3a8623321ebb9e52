"""`pulse users` and `pulse tokens`: operators (admin, viewer, district, commune) and their API tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from services.cli.common import Context, account_op, db, local_time, pass_ctx

ROLES = ["admin", "viewer", "district", "commune"]


@click.group()
def users() -> None:
    """Operators: admin and viewer (the province), district (a former district's units), commune (its units)."""


@users.command("add")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
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

    held = _scope(ctx, unit_codes, district_code, unit_set)
    account_op(ctx, create_operator, username=username, role=role, password=password, **held)
    scope = f" {district_code}" if district_code else ""
    click.echo(f"operator {username} ({role}{scope}) added")


@users.command("passwd")
@click.argument("username")
@click.password_option(help="the new password (asked twice when not given)")
@pass_ctx
def users_passwd(ctx: Context, username: str, password: str) -> None:
    """Set an operator's password (at least 12 characters, not a common one); its sessions end."""
    from services.core.accounts import set_password

    account_op(ctx, set_password, username=username, password=password)
    click.echo(f"operator {username}: password set, sessions ended")


@users.command("list")
@pass_ctx
def users_list(ctx: Context) -> None:
    """Every operator: role and scope, whether it may log in, sessions and tokens it holds open, disabled since."""
    from services.core.accounts import list_operators

    with db(ctx) as conn:
        for o in list_operators(conn):
            district = f"district {o['district_code']}" if o["district_code"] else ""
            scope = district or ",".join(o["units"]) or "every unit"
            login = "password" if o["has_password"] else "token only"
            state = f"disabled {local_time(ctx, o['disabled_at'])}" if o["disabled_at"] else "active"
            click.echo(
                f"{o['username']:<24} {o['role']:<9} {scope:<28} {login:<10} "
                f"sessions {o['sessions']:<3} tokens {o['tokens']:<3} {state}"
            )


@users.command("disable")
@click.argument("username")
@pass_ctx
def users_disable(ctx: Context, username: str) -> None:
    """Take an operator's access away: its sessions end, its tokens are refused from the next request on."""
    _set_disabled(ctx, username, True, "disabled: sessions ended, tokens refused")


@users.command("enable")
@click.argument("username")
@pass_ctx
def users_enable(ctx: Context, username: str) -> None:
    """Give a disabled operator its access back (its tokens work again; it logs in anew)."""
    _set_disabled(ctx, username, False, "enabled")


def _set_disabled(ctx: Context, username: str, disabled: bool, said: str) -> None:
    from services.core.accounts import set_disabled

    account_op(ctx, set_disabled, username=username, disabled=disabled)
    click.echo(f"operator {username} {said}")


@users.command("set-role")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--unit", "unit_codes", multiple=True, help="commune role: its units (repeat)")
@click.option("--district", "district_code", help="district role: the former district's code")
@click.option("--unit-set", help="set of the --unit codes or the --district; default: PULSE_UNIT_SET")
@pass_ctx
def users_set_role(
    ctx: Context,
    username: str,
    role: str,
    unit_codes: tuple[str, ...],
    district_code: str | None,
    unit_set: str | None,
) -> None:
    """Change an operator's role, with the scope the new role needs; in force from its next request."""
    _set_scope(ctx, username, role, unit_codes, district_code, unit_set)
    click.echo(f"operator {username} is now {role}")


@users.command("set-units")
@click.argument("username")
@click.option("--unit", "unit_codes", multiple=True, help="a commune operator's units (repeat)")
@click.option("--district", "district_code", help="a district operator's former district")
@click.option("--unit-set", help="set of the --unit codes or the --district; default: PULSE_UNIT_SET")
@pass_ctx
def users_set_units(
    ctx: Context, username: str, unit_codes: tuple[str, ...], district_code: str | None, unit_set: str | None
) -> None:
    """Replace the units (commune) or the former district (district) an operator holds, keeping its role."""
    _set_scope(ctx, username, None, unit_codes, district_code, unit_set)
    click.echo(f"operator {username}: units set")


def _set_scope(
    ctx: Context,
    username: str,
    role: str | None,
    unit_codes: tuple[str, ...],
    district_code: str | None,
    unit_set: str | None,
) -> None:
    from services.core.accounts import set_scope

    account_op(ctx, set_scope, username=username, role=role, **_scope(ctx, unit_codes, district_code, unit_set))


def _scope(ctx: Context, unit_codes: tuple[str, ...], district_code: str | None, unit_set: str | None) -> dict:
    """What an operator holds, as `create_operator` and `set_scope` take it (codes in PULSE_UNIT_SET by default)."""
    return {
        "unit_set": unit_set or ctx.settings.unit_set,
        "unit_codes": list(unit_codes),
        "district_code": district_code,
    }


@click.group()
def tokens() -> None:
    """Operators' API tokens."""


@tokens.command("create")
@click.option("--username", required=True)
@click.option("--label", default="", help="what the token is for")
@click.option("--days", type=int, default=90, show_default=True, help="valid for this many days (1–366)")
@click.option("--read-only", is_flag=True, help="GET only, whatever the operator's role")
@pass_ctx
def tokens_create(ctx: Context, username: str, label: str, days: int, read_only: bool) -> None:
    """Create an API token; prints it as the last line (only its hash is stored)."""
    from services.core.accounts import create_api_token

    token = account_op(ctx, create_api_token, username=username, label=label, days=days, read_only=read_only)
    scope = "read-only, " if read_only else ""
    click.echo(f"API token for {username} ({scope}valid {days} days; shown once):")
    click.echo(token)


@tokens.command("list")
@click.option("--username", help="only this operator's")
@pass_ctx
def tokens_list(ctx: Context, username: str | None) -> None:
    """API tokens, newest first: id, operator, label, created, last used, revoked (never the token itself)."""
    from services.core.accounts import list_tokens

    with db(ctx) as conn:
        for t in list_tokens(conn, username=username):
            state = f"revoked {local_time(ctx, t['revoked_at'])}" if t["revoked_at"] else "active"
            if not t["revoked_at"] and t["expires_at"] is not None and t["expires_at"] <= datetime.now(UTC):
                state = f"expired {local_time(ctx, t['expires_at'])}"
            elif not t["revoked_at"]:
                state = f"active until {local_time(ctx, t['expires_at'])}"
            scope = "read-only" if t["read_only"] else "full"
            click.echo(
                f"{t['token_id']:>5}  {t['username']:<24} {t['label']:<24} created {local_time(ctx, t['created_at'])}"
                f"  used {local_time(ctx, t['last_used_at'])}  {scope:<9}  {state}"
            )


@tokens.command("revoke")
@click.argument("token_id", type=int)
@pass_ctx
def tokens_revoke(ctx: Context, token_id: int) -> None:
    """Revoke a token (its id from `pulse tokens list`): refused from the next request on."""
    from services.core.accounts import revoke_token

    account_op(ctx, revoke_token, token_id=token_id)
    click.echo(f"token {token_id} revoked")
