"""`pulse channels`: where incident notifications (and, if asked, the monthly report) go."""

from __future__ import annotations

import click

from services.cli.common import Context, account_op, db, fail, pass_ctx


@click.group()
def channels() -> None:
    """Where incident notifications go: webhook, telegram, email, zalo."""


@channels.command("add")
@click.option("--kind", type=click.Choice(["webhook", "telegram", "email", "zalo"]), required=True)
@click.option("--target", required=True, help="URL, Telegram chat id, e-mail address or Zalo user id")
@click.option("--secret", help="webhook signing secret, Telegram bot token, or Zalo OA access token")
@click.option("--unit", "unit_codes", multiple=True, help="only these units (repeat); default: all")
@click.option("--unit-set", help="set of --unit; default: PULSE_UNIT_SET")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi")
@click.option("--reports", is_flag=True, help="also send the monthly report (e-mail: files attached; others: a link)")
@pass_ctx
def channels_add(ctx: Context, kind, target, secret, unit_codes, unit_set, lang, reports) -> None:
    """Add a channel; prints its id as the last line. Its secret is stored encrypted under PULSE_DEVICE_KEY."""
    from services.alerts.channels import add_channel
    from services.core import sealing

    try:
        keys = sealing.keyring(ctx.settings) if secret else None
    except sealing.SealingError as exc:
        fail(f"--secret: {exc}")
    channel_id = account_op(
        ctx,
        add_channel,
        kind=kind,
        target=target,
        secret=secret,
        unit_set=unit_set or ctx.settings.unit_set,
        unit_codes=list(unit_codes),
        lang=lang,
        wants_reports=reports,
        keys=keys,
    )
    click.echo(f"{kind} channel added; its id:")
    click.echo(channel_id)


@channels.command("list")
@pass_ctx
def channels_list(ctx: Context) -> None:
    from services.alerts.channels import list_channels

    with db(ctx) as conn:
        for c in list_channels(conn):
            units = ",".join(c["unit_codes"]) or "all units"
            state = "disabled" if c["disabled_at"] else "active"
            reports = "  + monthly report" if c["wants_reports"] else ""
            click.echo(f"{c['channel_id']:>4}  {c['kind']:<9} {c['target']:<40} {units}  {c['lang']}  {state}{reports}")


@channels.command("remove")
@click.option("--id", "channel_id", type=int, required=True)
@pass_ctx
def channels_remove(ctx: Context, channel_id: int) -> None:
    """Disable a channel (kept for the history of what was sent)."""
    from services.alerts.channels import disable_channel

    with db(ctx) as conn:
        if not disable_channel(conn, channel_id):
            fail(f"--id: no active channel {channel_id}")
    click.echo("disabled")
