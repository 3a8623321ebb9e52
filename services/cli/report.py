"""`pulse report`: the monthly briefing (SPEC §9), written to a file (services/reports/issue.py does the work)."""

from __future__ import annotations

import click

from services.cli.common import Context, db, fail, pass_ctx, read_db


@click.group()
def report() -> None:
    """The monthly briefing (SPEC §9)."""


@report.command("monthly")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "pdf", "docx", "csv"]), required=True)
@click.option("--unit-set", help="2024 or 2025 (default: PULSE_UNIT_SET)")
@click.option("--unit", "unit", metavar="CODE", help="the briefing of this one unit (its cameras, its app figures)")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="the file to write")
@click.option("--keep", is_flag=True, help="also keep the figures in the database, to re-issue the same report")
@pass_ctx
def report_monthly(
    ctx: Context, month: str, fmt: str, unit_set: str | None, unit: str | None, lang: str, out: str, keep: bool
) -> None:
    """Write the monthly report of MONTH as XLSX, PDF, DOCX or CSV: of the whole unit set (with subtotals per
    district when it spans several), or with --unit of one unit, for its committee."""
    from pathlib import Path

    from services.reports import issue

    try:
        first = issue.parse_month(month)
        with read_db(ctx) as conn:  # the replica's, when there is one: a report only reads
            report_, data = issue.make(
                conn, ctx.settings, month=first, unit_set=unit_set, fmt=fmt, lang=lang, unit=unit
            )
        if keep:
            with db(ctx) as conn:
                issue.keep(conn, report_, lang)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    Path(out).write_bytes(data)
    click.echo(f"{out}: {len(data)} bytes, figures as of {report_.as_of.isoformat()}")
