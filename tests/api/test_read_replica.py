"""The API's reads from a streaming replica (`pulse infra start --replica`, PULSE_DATABASE_READ_URL): every read
route answers from it, a figure written on the primary shows there within a bound, and with the replica stopped
the API answers from the primary and says so (`X-Pulse-Reads: primary`, `pulse_api_read_replica_up 0`).

The replica is the local cluster's (a `pg_basebackup` of it the first time); stopped again after these tests if
they started it.
"""

import csv
import io
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.reads import WATCH_EVERY_S
from services.cli import cli
from services.core import accounts
from services.core.settings import Settings
from services.infra.local import Replica
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.db

# Every route that reads through `ReadConn`, as a district admin may call it.
READ_ROUTES = [
    "/api/v1/units",
    "/api/v1/units/2024/15865",
    "/api/v1/uptime?from=2024-03-01T00:00:00%2B07:00&to=2024-03-02T00:00:00%2B07:00",
    "/api/v1/uptime/series?window=24h",
    "/api/v1/engagement?month=2024-03",
    "/api/v1/engagement/daily?month=2024-03",
    "/api/v1/engagement/features?month=2024-03",
    "/api/v1/engagement/retention",
    "/api/v1/cameras",
    "/api/v1/incidents",
    "/api/v1/reports",
    "/api/v1/reports/monthly?month=2024-03&format=csv",
]


@pytest.fixture(scope="module")
def replica(base_settings: Settings) -> Iterator[Replica]:
    node = Replica(base_settings)
    started = node.start().startswith("started")
    try:
        yield node
    finally:
        if started:
            node.stop()


def on_replica(settings: Settings, replica: Replica) -> Settings:
    parts = urlsplit(settings.database_url)
    read_url = urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{replica.port}")))
    return settings.model_copy(update={"database_read_url": read_url, "read_replica_max_lag_s": 10.0})


def admin(conn: psycopg.Connection) -> dict[str, str]:
    accounts.create_operator(conn, username="reader", role="admin", unit_set="2024", unit_codes=[], password=None)
    return {"Authorization": f"Bearer {accounts.create_api_token(conn, username='reader')}"}


def metric(client: TestClient, name: str) -> float:
    line = next(line for line in client.get("/metrics").text.splitlines() if line.startswith(f"{name} "))
    return float(line.split()[1])


@pytest.fixture
def api(settings: Settings, conn: psycopg.Connection, replica: Replica) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API reading from the replica (once its watch has seen it answer), and an admin's headers."""
    headers = admin(conn)
    with TestClient(create_app(on_replica(settings, replica))) as client:
        wait_until(
            lambda: metric(client, "pulse_api_read_replica_up") == 1, timeout=30, what="the watch to see the replica"
        )
        yield client, headers


def test_reads_come_from_the_replica_and_a_write_shows_there_within_a_bound(
    settings: Settings, conn: psycopg.Connection, replica: Replica, api
) -> None:
    client, headers = api
    for path in READ_ROUTES:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert "X-Pulse-Reads" not in response.headers, path  # caught up: nothing to say
    # Written on the primary, read through the API (from the replica): visible within seconds.
    written = time.monotonic()
    conn.execute("UPDATE units SET population = 12345 WHERE unit_set = '2024' AND code = '15865'")
    population = lambda: client.get("/api/v1/units/2024/15865", headers=headers).json()["population"]  # noqa: E731
    wait_until(lambda: population() == 12345, timeout=10, what="the write to reach the replica")
    print(f"visible on the replica after {time.monotonic() - written:.3f} s")
    with psycopg.connect(on_replica(settings, replica).database_read_url) as direct:
        assert direct.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)  # it was the replica


def test_with_the_replica_stopped_the_api_reads_the_primary_and_says_so(replica: Replica, api) -> None:
    client, headers = api
    replica.stop()
    try:
        first = client.get("/api/v1/cameras", headers=headers)
        assert first.status_code == 200  # the connection failed over at once, or after the watch noticed
        wait_until(
            lambda: metric(client, "pulse_api_read_replica_up") == 0, timeout=3 * WATCH_EVERY_S + 10, what="the watch"
        )
        for path in READ_ROUTES[:4]:
            response = client.get(path, headers=headers)
            assert response.status_code == 200 and response.headers["X-Pulse-Reads"] == "primary", path
    finally:
        replica.start()
    wait_until(lambda: metric(client, "pulse_api_read_replica_up") == 1, timeout=60, what="the replica back")
    assert "X-Pulse-Reads" not in client.get("/api/v1/cameras", headers=headers).headers


def test_a_replica_that_can_no_longer_catch_up_is_made_again_at_start(
    settings: Settings, conn: psycopg.Connection, replica: Replica
) -> None:
    """Its slot on the primary gone (as when it was lost: the replica stopped while the primary wrote more WAL than
    the slot may keep), a replica would wait for removed WAL for ever; `start` makes it again, and it streams."""
    assert replica.slot_status() in ("reserved", "extended")  # a healthy replica keeps its WAL through its slot
    replica.stop()
    replica.drop_slot()
    assert replica.stranded()
    assert "made again" in replica.start()
    assert replica.slot_status() in ("reserved", "extended") and not replica.stranded()
    conn.execute("UPDATE units SET population = 777 WHERE unit_set = '2024' AND code = '15871'")
    with psycopg.connect(on_replica(settings, replica).database_read_url, autocommit=True) as direct:
        read = "SELECT population FROM units WHERE unit_set = '2024' AND code = '15871'"
        wait_until(
            lambda: direct.execute(read).fetchone() == (777,), timeout=30, what="the write to reach the remade replica"
        )
    assert "made again" not in replica.start()  # running and in step: left alone


def _population_in_report(path) -> str:
    """The population column of unit 15865's line in a monthly report's CSV."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    return next(row["population"] for row in rows if row["unit_code"] == "15865")


def test_the_report_command_reads_the_replica_keeps_on_the_primary_and_says_when_it_cannot(
    settings: Settings, conn: psycopg.Connection, replica: Replica, tmp_path
) -> None:
    """`pulse report monthly` only reads: from the replica when PULSE_DATABASE_READ_URL names one (shown with its
    replay paused: the report has the figure from before the last write), and kept (`--keep`) on the primary; with
    the replica stopped it reads the primary and says so on stderr."""
    read_url = on_replica(settings, replica).database_read_url
    env = {"PULSE_DATABASE_URL": settings.database_url, "PULSE_DATABASE_READ_URL": read_url}
    report = ["report", "monthly", "--month", "2024-03", "--format", "csv", "--out", str(tmp_path / "r.csv")]
    where = "SELECT population FROM units WHERE unit_set = '2024' AND code = '15865'"
    conn.execute("UPDATE units SET population = 1111 WHERE unit_set = '2024' AND code = '15865'")
    with psycopg.connect(read_url, autocommit=True) as standby:
        wait_until(
            lambda: standby.execute(where).fetchone() == (1111,),
            timeout=30,
            what="the replica to have the first figure",
        )
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            conn.execute("UPDATE units SET population = 2222 WHERE unit_set = '2024' AND code = '15865'")
            result = CliRunner().invoke(cli, [*report, "--keep"], env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
            assert _population_in_report(tmp_path / "r.csv") == "1111" and result.stderr == ""
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    assert conn.execute("SELECT count(*) FROM reports").fetchone()["count"] == 1  # kept on the primary
    replica.stop()
    try:
        result = CliRunner().invoke(cli, report, env=env, catch_exceptions=False)
        assert result.exit_code == 0
        assert "reading from the primary" in result.stderr
        assert _population_in_report(tmp_path / "r.csv") == "2222"
    finally:
        replica.start()
