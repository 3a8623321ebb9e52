"""`pulse units`: the administrative units (versioned sets, SPEC §3), their populations and adoption targets."""

from __future__ import annotations

import sys

import click

from services.cli.common import Context, db, fail, pass_ctx


@click.group()
def units() -> None:
    """Administrative units (versioned sets, SPEC §3)."""


@units.command("list")
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@pass_ctx
def units_list(ctx: Context, unit_set: str | None) -> None:
    from services.core.units import list_units

    with db(ctx) as conn:
        rows = list_units(conn, unit_set or ctx.settings.unit_set)
    for r in rows:
        pop = "" if r["population"] is None else str(r["population"])
        former = r["former_district_name"] or ""
        click.echo(f"{r['unit_set']}\t{r['code']}\t{r['name']}\t{r['kind']}\t{pop}\t{r['group_name'] or ''}\t{former}")


@units.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def units_import(ctx: Context, path: str) -> None:
    """Load unit sets from a CSV (code,name,type,unit_set,successor_code[,successor_set]); all or nothing."""
    from pathlib import Path

    from services.core.units import UnitFileError, load_units, parse_units_csv

    try:
        parsed = parse_units_csv(Path(path).read_text(encoding="utf-8"))
    except UnitFileError as exc:
        for problem in exc.problems:
            click.echo(f"{path}: {problem}", err=True)
        sys.exit(1)
    with db(ctx) as conn, conn.transaction():
        changed = load_units(conn, parsed)
    click.echo(f"{len(parsed.units)} unit(s) read, {changed} row(s) written")


@units.command("set-population")
@click.option("--unit", "code", required=True)
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@click.option("--population", type=click.IntRange(min=0))
@click.option("--households", type=click.IntRange(min=0))
@click.option("--note", default="", help="where the figure comes from")
@pass_ctx
def units_set_population(
    ctx: Context, code: str, unit_set: str | None, population: int | None, households: int | None, note: str
) -> None:
    """Enter a unit's population and households (operator-entered; never invented)."""
    from services.core.units import set_population

    try:
        with db(ctx) as conn:
            set_population(
                conn,
                unit_set=unit_set or ctx.settings.unit_set,
                code=code,
                population=population,
                households=households,
                note=note,
            )
    except LookupError as exc:
        fail(str(exc))
    click.echo("saved")


@units.command("set-target")
@click.option("--unit", "code", required=True)
@click.option("--unit-set", help="default: PULSE_UNIT_SET")
@click.option("--adoption", type=click.FloatRange(0, 1), help="app users ÷ population, e.g. 0.3; omit to remove")
@click.option("--note", default="", help="where the target comes from (e.g. the district's plan)")
@pass_ctx
def units_set_target(ctx: Context, code: str, unit_set: str | None, adoption: float | None, note: str) -> None:
    """A unit's adoption target for the monthly briefing ("tồn tại, hạn chế" lists units under it)."""
    from services.core.units import set_adoption_target

    try:
        with db(ctx) as conn:
            set_adoption_target(conn, unit_set=unit_set or ctx.settings.unit_set, code=code, target=adoption, note=note)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    click.echo("saved" if adoption is not None else "removed")
