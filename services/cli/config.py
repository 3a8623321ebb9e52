"""`pulse config`: the effective settings as `PULSE_*=value` lines, secrets masked."""

from __future__ import annotations

import click

from services.cli.common import Context, pass_ctx


@click.command("config")
@pass_ctx
def show_config(ctx: Context) -> None:
    """Print the effective configuration (secrets masked)."""
    from pydantic import SecretStr

    from services.core.settings import env_name

    for field, value in ctx.settings.model_dump().items():
        shown = "<set>" if isinstance(value, SecretStr) else value  # every secret, whatever its name
        if field == "database_url":
            shown = _mask_url(str(value))
        click.echo(f"{env_name(field)}={'' if shown is None else shown}")


def _mask_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
