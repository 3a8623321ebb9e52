"""`pulse maintenance`: maintenance windows, one-off or weekly, for a camera, a unit or everything."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import click

from services.cli.common import Context, account_op, db, fail, pass_ctx


@click.group()
def maintenance() -> None:
    """Maintenance windows: no alerts inside, counted as maintenance in uptime."""


def _parse_time(value: str, option: str):
    from datetime import datetime, time

    try:
        return time.fromisoformat(value) if option in ("--start", "--end") else datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: cannot read {value!r}")


@maintenance.command("add")
@click.option("--camera", help="one camera")
@click.option("--unit", "unit_code", help="one unit (code)")
@click.option("--unit-set", help="set of --unit; default: PULSE_UNIT_SET")
@click.option("--from", "starts", help="one-off: start, RFC 3339 (e.g. 2026-12-01T22:00:00+07:00)")
@click.option("--to", "ends", help="one-off: end, RFC 3339")
@click.option("--days", help="weekly: ISO weekdays, e.g. 1,3,5 (1 = Monday)")
@click.option("--start", "local_start", help="weekly: local start time HH:MM")
@click.option("--end", "local_end", help="weekly: local end time HH:MM (before --start: past midnight)")
@click.option("--in-force-from", "in_force", help="weekly: in force from, RFC 3339 (default: now)")
@click.option("--note", default="")
@click.option("--reason", default="", help="why, when the window starts before now (it changes figures already seen)")
@pass_ctx
def maintenance_add(
    ctx: Context, camera, unit_code, unit_set, starts, ends, days, local_start, local_end, in_force, note, reason
) -> None:
    """Add a window for a camera, a unit, or (neither given) everything; prints its id as the last line."""
    from services.core.maintenance import add_window

    tz = ctx.settings.tz
    start_dt = _parse_time(starts, "--from") if starts else None
    end_dt = _parse_time(ends, "--to") if ends else None
    in_force_dt = _parse_time(in_force, "--in-force-from") if in_force else None
    for value, name in ((start_dt, "--from"), (end_dt, "--to"), (in_force_dt, "--in-force-from")):
        if value is not None and value.tzinfo is None:
            fail(f"{name}: give the offset (e.g. +07:00)")
    try:
        weekdays = [int(d) for d in days.split(",")] if days else []
    except ValueError:
        fail("--days: comma-separated numbers 1 to 7")
    window_id = account_op(
        ctx,
        add_window,
        camera_id=camera,
        unit=(unit_set or ctx.settings.unit_set, unit_code) if unit_code else None,
        starts_at=start_dt,
        ends_at=end_dt,
        weekdays=weekdays,
        local_start=_parse_time(local_start, "--start") if local_start else None,
        local_end=_parse_time(local_end, "--end") if local_end else None,
        note=note,
        created_by=f"cli:{getpass.getuser()}",
        now=datetime.now(UTC),
        in_force_from=in_force_dt,
        reason=reason,
    )
    click.echo(f"maintenance window added (times in {tz.key}); its id:")
    click.echo(window_id)


@maintenance.command("list")
@pass_ctx
def maintenance_list(ctx: Context) -> None:
    from services.core.maintenance import list_windows

    with db(ctx) as conn:
        for w in list_windows(conn):
            scope = w["camera_id"] or (f"{w['unit_set']}/{w['unit_code']}" if w["unit_code"] else "all")
            when = (
                f"{w['starts_at'].isoformat()} → {w['ends_at'].isoformat()}"
                if w["starts_at"]
                else f"weekly {','.join(map(str, w['weekdays']))} {w['local_start']}–{w['local_end']}"
            )
            click.echo(f"{w['window_id']:>5}  {scope:<20} {when}  {w['note']}")


@maintenance.command("remove")
@click.option("--id", "window_id", type=int, required=True)
@pass_ctx
def maintenance_remove(ctx: Context, window_id: int) -> None:
    from services.core.maintenance import remove_window

    with db(ctx) as conn:
        if not remove_window(conn, window_id):
            fail(f"--id: no maintenance window {window_id}")
    click.echo("removed")
