"""`pulse infra` against what `make test` started: start is idempotent, status says what runs where."""

import subprocess
import sys

import pytest

from services.core.settings import Settings
from services.infra.local import pinned_versions

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def _pulse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_is_idempotent_when_both_run() -> None:
    version = pinned_versions()["KAFKA_VERSION"]
    result = _pulse("infra", "start")
    assert result.returncode == 0, result.stderr
    assert "postgresql: already running" in result.stdout
    assert f"kafka {version}: already running" in result.stdout


def test_status_says_what_runs_where(base_settings: Settings) -> None:
    from urllib.parse import urlsplit

    db = urlsplit(base_settings.database_url)
    pg_address = f"{db.hostname}:{db.port or 5432}"
    kafka_address = base_settings.kafka_bootstrap.split(",")[0]
    result = _pulse("infra", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("postgresql") and "running (pid" in line and pg_address in line for line in lines)
    assert any(line.startswith("kafka") and "running (pid" in line and kafka_address in line for line in lines)
