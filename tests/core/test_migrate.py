import random
from datetime import date

import psycopg
import pytest

from services.core.migrate import migrate

pytestmark = pytest.mark.db


def test_migrating_twice_is_a_no_op_the_second_time(conn: psycopg.Connection) -> None:
    # The session fixture already migrated this database once.
    before = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version").fetchall()
    report = migrate(conn)
    assert report.applied == []
    assert report.units_changed == 0
    assert not report.changed_anything
    after = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert after == before and len(after) >= 1


def test_heartbeats_and_app_events_are_hypertables(conn: psycopg.Connection) -> None:
    rows = conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables").fetchall()
    assert {"heartbeats", "app_events"} <= {r["hypertable_name"] for r in rows}


def test_the_license_decides_the_optional_features(conn: psycopg.Connection) -> None:
    report = migrate(conn)
    license = conn.execute("SELECT current_setting('timescaledb.license') AS l").fetchone()["l"]
    assert report.license == license
    compressed = conn.execute(
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'heartbeats'"
    ).fetchone()["compression_enabled"]
    assert compressed == (license == "timescale")


def test_the_unit_sets_are_loaded_with_their_mapping(conn: psycopg.Connection) -> None:
    rows = conn.execute("SELECT unit_set, count(*) AS n FROM units GROUP BY unit_set").fetchall()
    counts = {r["unit_set"]: r["n"] for r in rows}
    assert counts == {"2024": 37, "2025-01": 549, "2025": 166}
    per_unit = conn.execute(
        "SELECT u.code, count(m.to_code) AS n FROM units u"
        " LEFT JOIN unit_mapping m ON m.from_set = u.unit_set AND m.from_code = u.code AND m.to_set = '2025'"
        " WHERE u.unit_set = '2024' GROUP BY u.code"
    ).fetchall()
    assert len(per_unit) == 37 and all(r["n"] == 1 for r in per_unit)


def test_unit_set_and_code_together_are_the_identity(conn: psycopg.Connection) -> None:
    names = conn.execute("SELECT unit_set, name FROM units WHERE code = '15880' ORDER BY unit_set").fetchall()
    assert [(r["unit_set"], r["name"]) for r in names] == [
        ("2024", "Hoằng Phượng"),
        ("2025", "Hoằng Giang"),
        ("2025-01", "Hoằng Giang"),  # Giang and Phượng merged on 1 January 2025 under this code
    ]
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO units (unit_set, code, name) VALUES ('2024', '15880', 'twice')")


def test_population_entered_by_an_operator_survives_a_migration(conn: psycopg.Connection) -> None:
    conn.execute("UPDATE units SET population = 12345 WHERE unit_set = '2024' AND code = '15865'")
    try:
        migrate(conn)
        row = conn.execute("SELECT population FROM units WHERE unit_set = '2024' AND code = '15865'").fetchone()
        assert row["population"] == 12345
    finally:
        conn.execute("UPDATE units SET population = NULL WHERE unit_set = '2024' AND code = '15865'")


def test_feature_use_is_carried_over_to_name_sets_exactly(settings) -> None:
    """0016 turns 0005's row per scope, month, event name and subject into name sets and name counts: the feature
    use read before the migration (0005's own query) equals the one read after."""
    from urllib.parse import urlsplit, urlunsplit

    from services.core import engagement
    from services.core.db import connect as connect_to

    parts = urlsplit(settings.database_url)
    name = f"{parts.path.lstrip('/')}_m0016"
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    scratch = settings.model_copy(update={"database_url": urlunsplit(parts._replace(path=f"/{name}"))})
    rng = random.Random(16)
    names = [f"event_{i}" for i in range(70)]  # more than one word of bits
    with connect_to(scratch) as c:
        migrate(c, timezone=scratch.timezone, upto=15)
        district = c.execute("SELECT scope_id FROM engagement_scopes WHERE scope_set = '*'").fetchone()["scope_id"]
        c.execute("INSERT INTO app_subjects (subject) SELECT 's' || g FROM generate_series(1, 30) g")
        rows = {
            (district, date(2024, m, 1), rng.choice(names), rng.randint(1, 30)): rng.randint(1, 9)
            for m in (3, 4)
            for _ in range(400)
        }
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO engagement_features (scope_id, month, event, subject_id, events)"
                " VALUES (%s, %s, %s, %s, %s)",
                [(*key, n) for key, n in rows.items()],
            )
        before = {
            month: c.execute(
                "SELECT event, sum(events) AS events, count(*) AS subjects FROM engagement_features"
                " WHERE scope_id = %s AND month = %s GROUP BY event ORDER BY sum(events) DESC, event",
                (district, month),
            ).fetchall()
            for month in (date(2024, 3, 1), date(2024, 4, 1))
        }
        migrate(c, timezone=scratch.timezone)
        for month, old in before.items():
            new = engagement.feature_use(c, (engagement.DISTRICT, engagement.DISTRICT), month)
            assert new == [
                {"event": r["event"], "events": int(r["events"]), "subjects": int(r["subjects"])} for r in old
            ]
            assert len(new) > 64
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
