"""`pulse infra` against what `make test` started: start is idempotent, status says what runs where."""

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.settings import Settings
from services.infra.process import pinned_versions
from tests.processes import pulse_command

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def _pulse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pulse_command(*args),
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


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory every user may enter (pytest's own is under a mode-700 directory)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path


def test_a_directory_the_postgres_user_cannot_enter_is_named(open_tmp) -> None:
    """A project cloned under /root (mode 700): `pulse infra start` as root names the directory PostgreSQL's user
    cannot enter, instead of initdb's "Permission denied" (issue 20)."""
    from services.infra.local import unreachable_ancestor

    home = open_tmp / "root"
    data = home / "commune-pulse" / "var" / "postgres"  # not created yet: initdb would make it
    home.mkdir()
    home.chmod(0o700)
    stranger = 54321  # neither the owner nor in the group
    assert unreachable_ancestor(data, stranger, {54321}) == home
    assert unreachable_ancestor(data, 0, set()) is None  # root goes everywhere
    home.chmod(0o711)  # others may pass through
    assert unreachable_ancestor(data, stranger, {54321}) is None
    home.chmod(0o750)
    assert unreachable_ancestor(data, stranger, {home.stat().st_gid}) is None  # through the group's bit


def test_infra_start_as_root_under_a_closed_home_stops_first_with_one_line(base_settings: Settings, open_tmp) -> None:
    import os

    from services.infra.local import Postgres
    from services.infra.process import InfraError

    if os.geteuid() != 0:
        pytest.fail("this machine's tests run as root, as CI does; the check only applies to root")
    home = open_tmp / "root"
    home.mkdir(mode=0o700)
    settings = base_settings.model_copy(update={"data_dir": home / "commune-pulse" / "var"})
    with pytest.raises(InfraError, match=rf"postgres user, which cannot enter {home}: set PULSE_DATA_DIR") as err:
        Postgres(settings).start()
    assert "\n" not in str(err.value)
    assert not (home / "commune-pulse").exists()  # stopped before making anything
