"""`pulse audit`: the audit trail — check that no one edited it, and read it."""

from __future__ import annotations

import json
import sys

import click

from services.cli.common import Context, fail, local_time, pass_ctx, read_db


@click.group()
def audit() -> None:
    """The audit trail: every change a person or a token made, every log-in and refusal (SPEC §12)."""


@audit.command("verify")
@pass_ctx
def audit_verify(ctx: Context) -> None:
    """Recompute the hash chain: exit 0 when it holds, 1 naming the first row that does not (edited, removed, or
    rows cut from the end). Prints the head hash: note it (the monthly briefing prints it too)."""
    from services.core import audit as trail
    from services.core.db import connect

    with connect(ctx.settings, autocommit=True) as conn:  # the primary: a replica may lag behind the head
        verdict = trail.verify(conn)
    if verdict.ok:
        click.echo(f"audit trail intact: {verdict.rows} row(s), head {verdict.head or '-'}")
        return
    click.echo(f"audit trail broken at row {verdict.bad_id}: {verdict.reason}", err=True)
    click.echo(f"the {verdict.rows} row(s) before it hold; their head {verdict.head or '-'}", err=True)
    sys.exit(1)


@audit.command("list")
@click.option("--since", help="from this time, RFC 3339 or a date (YYYY-MM-DD, local)")
@click.option("--until", help="before this time, RFC 3339 or a date (local)")
@click.option("--actor", help='an account, or the start of one ("cli:" every command, "db:" every change in SQL)')
@click.option("--action", help='the action, or its start: "maintenance_windows." lists every change of one')
@click.option("--object", "obj", help='a kind ("maintenance_windows") or one object ("operators:7")')
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@pass_ctx
def audit_list(ctx: Context, since, until, actor, action, obj, limit, as_json) -> None:
    """The newest entries first."""
    from services.core import audit as trail

    with read_db(ctx) as conn:
        rows = trail.entries(
            conn,
            since=_when(ctx, since, "--since"),
            until=_when(ctx, until, "--until"),
            actor=actor,
            action=action,
            obj=obj,
            limit=limit,
        )
    for r in rows:
        if as_json:
            click.echo(json.dumps({**r, "at": r["at"].isoformat()}, ensure_ascii=False))
        else:
            change = {k: r[k] for k in ("before", "after") if r[k] is not None}
            said = json.dumps(change, ensure_ascii=False, separators=(",", ":")) if change else ""
            who = (r["actor"] or r["address"] or "?") + (f" (token {r['token_id']})" if r["token_id"] else "")
            obj = f"{r['object_kind']}:{r['object_id']}" if r["object_id"] else r["object_kind"] or "-"
            click.echo(
                f"{r['audit_id']:>7} {local_time(ctx, r['at'], '%Y-%m-%d %H:%M:%S')} {who:<28} "
                f"{r['action']:<28} {obj:<28} {said}"
            )


def _when(ctx: Context, value: str | None, option: str):
    from datetime import date, datetime, time

    if value is None:
        return None
    try:
        return (
            datetime.fromisoformat(value)
            if "T" in value
            else datetime.combine(date.fromisoformat(value), time(), tzinfo=ctx.settings.tz)
        )
    except ValueError:
        fail(f"{option}: cannot read {value!r} (RFC 3339, or YYYY-MM-DD)")
