"""The `pulse` command as tests start it in a process of their own: this interpreter, the project's CLI."""

import sys


def pulse_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from services.cli import main; main()", *args]
