"""`pulse cameras`: the camera registry, filled from a CSV."""

from __future__ import annotations

import sys

import click

from services.cli.common import Context, db, pass_ctx


@click.group()
def cameras() -> None:
    """The camera registry."""


@cameras.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--unit-set", help="set of the unit codes in the file; default: PULSE_UNIT_SET")
@pass_ctx
def cameras_import(ctx: Context, path: str, unit_set: str | None) -> None:
    """Upsert cameras from a CSV (camera_id,unit_code,name,interval_s,stream_url,lat,lon,successor_unit_code);
    all or nothing. successor_unit_code: where the camera's unit was split, its unit in the next set."""
    import hashlib
    from pathlib import Path

    from services.core import audit, sealing
    from services.core.cameras import CameraFileError, import_cameras, parse_cameras_csv
    from services.core.units import list_units, successors_of

    unit_set = unit_set or ctx.settings.unit_set
    with db(ctx) as conn:
        known = {r["code"] for r in list_units(conn, unit_set)}
        try:
            text = Path(path).read_text(encoding="utf-8")
            rows = parse_cameras_csv(text, known_units=known, successors=successors_of(conn, unit_set))
            keys = sealing.keyring(ctx.settings) if any(r.stream_url for r in rows) else None
            with conn.transaction():  # the import and its audit entry, together
                changed = import_cameras(conn, rows, unit_set=unit_set, keys=keys)
                digest = hashlib.sha256(text.encode()).hexdigest()
                said = {"file": Path(path).name, "sha256": digest, "rows": len(rows), "changed": changed}
                audit.record(conn, None, "cameras.import", "unit_sets", unit_set, said)
        except (CameraFileError, sealing.SealingError) as exc:
            for problem in getattr(exc, "problems", [f"stream_url: {exc}"]):
                click.echo(f"{path}: {problem}", err=True)
            click.echo(f"{path}: nothing imported", err=True)
            sys.exit(1)
    click.echo(f"{len(rows)} camera(s) read, {changed} added or changed")
