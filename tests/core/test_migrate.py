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
