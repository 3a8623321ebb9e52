"""The `pulse` command as tests start it in a process of their own: this interpreter, the project's CLI."""

import sys

from services.core.settings import Settings


def pulse_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from services.cli import main; main()", *args]


def database_env(settings: Settings) -> dict[str, str]:
    """What a `pulse` process needs to use the settings' database: its URL, and the key its secrets are sealed
    under."""
    env = {"PULSE_DATABASE_URL": settings.database_url}
    if settings.device_key is not None:
        env["PULSE_DEVICE_KEY"] = settings.device_key.get_secret_value()
    return env


def run_pulse(
    settings: Settings, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """`pulse ARGS` in this process (click's runner) against the settings' database: exit code, stdout, stderr."""
    from click.testing import CliRunner

    from services.cli import cli

    result = CliRunner().invoke(
        cli,
        list(args),
        input=stdin,
        env={**database_env(settings), **(env or {})},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr
