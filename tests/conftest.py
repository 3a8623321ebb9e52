"""Shared fixtures. Integration tests (markers `db`, `kafka`) talk to the real PostgreSQL + TimescaleDB and
Apache Kafka that `make test` starts with `pulse infra start`; they fail (never skip) when those are down.

The suite runs in its own database, `<database>_test`, created afresh and migrated once per session; tables
that tests write are truncated before each test that asks for a connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from pydantic import SecretStr

from services.core.db import connect
from services.core.migrate import ensure_app_login, migrate
from services.core.settings import Settings, load_settings
from tests.topics import SESSION_MARK

TEST_SECRETS_KEY = "test-secrets-key-0123456789abcdefghijklmnop"

HOURS_KEPT_SINCE = datetime(2000, 1, 1, tzinfo=UTC)

# Tables a test may write, emptied before each test (reference units stay: migrations own them).
MUTABLE_TABLES = (
    "login_failures",
    "notifications",
    "reports",
    "unit_targets",
    "channels",
    "incidents",
    "camera_changes",
    "camera_flapping",
    "maintenance_windows",
    "heartbeats",
    "camera_intervals",
    "camera_dirty",
    "camera_status",
    "camera_snapshots",
    "app_events",
    "app_event_seen",
    "engagement_daily",
    "engagement_monthly",
    "engagement_first",
    "engagement_name_sets",
    "engagement_name_counts",
    "engagement_event_names",
    "app_subjects",
    "sessions",
    "api_tokens",
    "operator_units",
    "operators",
    "gateway_units",
    "device_channels",
    "devices",
    "cameras",
    "gateways",
    "apps",
)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Settings:
    """Settings pointing at a fresh, migrated test database."""
    test_db = f"{base_settings.database_name}_test"
    admin_url = _with_database(base_settings.database_url, "postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable ({exc}); run `make test` or `pulse infra start`", pytrace=False)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{test_db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{test_db}"')
    # Secrets at rest are sealed under a key (services/core/sealing.py), as in every deployment.
    s = base_settings.model_copy(
        update={
            "database_url": _with_database(base_settings.database_url, test_db),
            "device_key": base_settings.device_key or SecretStr(TEST_SECRETS_KEY),
        }
    )
    # The API runs as a login of `pulse_app` (migration 0021), as deployed: it may add to the audit trail only.
    api_url = urlunsplit(urlsplit(s.database_url)._replace(netloc=f"pulse_api_test:pulse_api_test@{_host_port(s)}"))
    with connect(s) as conn:
        migrate(conn, timezone=s.timezone)
        ensure_app_login(conn, api_url)
    return s.model_copy(update={"api_database_url": api_url})


def _host_port(s: Settings) -> str:
    parts = urlsplit(s.database_url)
    return f"{parts.hostname}:{parts.port or 5432}"


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with connect(settings, autocommit=True) as c:
        c.execute("TRUNCATE " + ", ".join(MUTABLE_TABLES) + " RESTART IDENTITY CASCADE")
        # Units are reference data, but their population is entered (and the simulator enters synthetic ones).
        c.execute("UPDATE units SET population = NULL, households = NULL, population_note = ''")
        # The hour rollup kept for all time (its tables were emptied with the intervals), so that the tests' data —
        # most of it in 2024 — is read through it as a deployment reads its recent days.
        c.execute("UPDATE uptime_hours_kept SET since = %s", (HOURS_KEPT_SINCE,))
        # Each test starts with an empty audit trail (what the truncations above recorded goes too).
        c.execute("TRUNCATE audit_log")
        c.execute("UPDATE audit_head SET audit_id = 0, hash = ''")
        yield c


@pytest.fixture(scope="session", autouse=True)
def _delete_test_topics(base_settings: Settings) -> Iterator[None]:
    """Every test stack makes topics of its own (a fresh prefix); delete this session's when it ends, so a broker
    that runs the suite day after day does not pile up thousands of partitions (topic creation slows down).
    Only this session's: another session may be using its topics right now. (A session killed before its end
    leaves its topics; `pulse infra stop` and a fresh `var/` clear them.)"""
    yield
    import asyncio
    import re

    from aiokafka.admin import AIOKafkaAdminClient

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=base_settings.kafka_bootstrap, request_timeout_ms=30_000)
        await admin.start()
        try:
            mine = re.compile(rf"^(test\.{SESSION_MARK}|t{SESSION_MARK}[0-9a-f]{{4}}\.)")
            ours = [t for t in await admin.list_topics() if mine.match(t)]
            for i in range(0, len(ours), 200):
                await admin.delete_topics(ours[i : i + 200])
        finally:
            await admin.close()

    loop = asyncio.new_event_loop()  # not asyncio.run: it would reset the loop pytest-asyncio keeps
    try:
        loop.run_until_complete(delete())
    except Exception as exc:  # the broker may be down after a fault test failed: nothing to clean then
        print(f"test topics not deleted: {exc!r}")
    finally:
        loop.close()


@pytest.fixture
def topic_name() -> str:
    """A topic of the test's own, so tests never read each other's messages."""
    return f"test.{SESSION_MARK}{uuid.uuid4().hex[:6]}"
