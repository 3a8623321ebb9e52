"""Versioned, idempotent schema migrations (`pulse migrate`).

Migrations are the SQL files in `migrations/`, named `NNNN_name.sql`, applied in order, each in its own
transaction, recorded in `schema_migrations` with a checksum (an applied file that was edited afterwards is an
error, not a silent drift). A migration that moves data SQL alone cannot (sealing what was stored in clear needs
the key) has a step in Python, run in its transaction right after its SQL (`_STEPS`). A session advisory lock
makes two concurrent `pulse migrate` runs safe. After the SQL, the shipped reference units are upserted, and
TimescaleDB features that need the Timescale license are enabled only where `timescaledb.license` allows them
(SPEC §11).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import unquote, urlsplit

from psycopg import sql

from services.core import sealing, unit_places, units, uptime_days
from services.core.db import DbConn

_LOCK_KEY = 7_370_617_372  # arbitrary, fixed: "pulse migrate"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    units_changed: int = 0
    license: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(self.applied or self.units_changed)


def discover() -> list[Migration]:
    found = []
    for entry in resources.files("services.core").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def migrate(
    conn: DbConn, *, timezone: str | None = None, upto: int | None = None, keys: sealing.Keyring | None = None
) -> MigrationReport:
    """Bring the database to the newest schema and reference data. Safe to run any number of times.
    `timezone`: the deployment's zone (PULSE_TIMEZONE), whose local days the day rollup counts. `upto`: stop after
    that version (a test of what a migration does to the data before it). `keys`: PULSE_DEVICE_KEY's, for a step
    that seals what was stored in clear (needed only when there is some)."""
    report = MigrationReport()
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"]: r for r in conn.execute("SELECT version, name, checksum FROM schema_migrations")}
        for m in discover():
            if upto is not None and m.version > upto:
                break
            if m.version in done:
                if done[m.version]["checksum"] != m.checksum:
                    raise MigrationError(
                        f"migration {m.version:04d}_{m.name} was changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            with conn.transaction():
                conn.execute(m.sql)  # type: ignore[arg-type]  # our own file, not user input
                if m.version in _STEPS:
                    report.notes.extend(_STEPS[m.version](conn, keys))
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (m.version, m.name, m.checksum),
                )
            report.applied.append(f"{m.version:04d}_{m.name}")
        with conn.transaction():
            shipped = units.shipped_units()
            report.units_changed = units.load_units(conn, shipped)
            places_changed, unplaced = unit_places.load_places(conn, unit_places.shipped_places())
            report.units_changed += places_changed
        if report.units_changed:
            report.notes.extend(shipped.notes)  # e.g. units the official table leaves without a successor
            report.notes.extend(f"shipped place of unknown unit {key} not loaded" for key in unplaced)
        if timezone is not None and uptime_days.set_zone(conn, timezone):
            report.notes.append(f"uptime per day now counted in {timezone} (rebuilt from the stored intervals)")
        report.license = _license(conn)
        report.notes.extend(_licensed_features(conn, report.license))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return report


def _seal_plaintext(conn: DbConn, keys: sealing.Keyring | None) -> list[str]:
    """0024: the channels' secrets and the stream URLs stored in clear until then, sealed (0025 drops the columns)."""
    secrets = conn.execute("SELECT channel_id, secret FROM channels WHERE secret IS NOT NULL").fetchall()
    streams = conn.execute("SELECT camera_id, stream_url FROM cameras WHERE stream_url IS NOT NULL").fetchall()
    if not secrets and not streams:
        return []
    if keys is None:
        raise MigrationError(
            f"{len(secrets)} channel secrets and {len(streams)} stream URLs are stored in clear and are now to be"
            f" encrypted: {sealing.KEY_HELP}, then run pulse migrate again (nothing was changed)"
        )
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE channels SET secret_enc = %s WHERE channel_id = %s",
            [(keys.seal(r["secret"]), r["channel_id"]) for r in secrets],
        )
        cur.execute("CREATE TEMP TABLE sealed_streams (camera_id text, enc bytea, digest bytea) ON COMMIT DROP")
        with cur.copy("COPY sealed_streams FROM STDIN") as copy:
            for r in streams:
                copy.write_row((r["camera_id"], keys.seal(r["stream_url"]), keys.digest(r["stream_url"])))
        cur.execute(
            "UPDATE cameras c SET stream_url_enc = s.enc, stream_url_digest = s.digest"
            " FROM sealed_streams s WHERE s.camera_id = c.camera_id"
        )
    return [f"sealed under PULSE_DEVICE_KEY: {len(secrets)} channel secrets, {len(streams)} stream URLs"]


_STEPS = {24: _seal_plaintext}


def _license(conn: DbConn) -> str:
    row = conn.execute("SELECT current_setting('timescaledb.license', true) AS license").fetchone()
    return (row["license"] if row else None) or "unknown"


def _licensed_features(conn: DbConn, license: str) -> list[str]:
    """Compression of old heartbeat chunks where the license allows it; the product's own retention job
    (not a TimescaleDB policy) deletes old data either way, so both builds keep the same data."""
    if license != "timescale":
        return [f"timescaledb.license={license}: compression and policies are not used (not available)"]
    row = conn.execute(
        "SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'heartbeats'"
    ).fetchone()
    if row and not row["compression_enabled"]:
        conn.execute(
            "ALTER TABLE heartbeats SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id',"
            " timescaledb.compress_orderby = 'ts')"
        )
        conn.execute("SELECT add_compression_policy('heartbeats', interval '8 days', if_not_exists => true)")
        return ["timescaledb.license=timescale: heartbeat chunks older than 8 days are compressed"]
    return ["timescaledb.license=timescale: heartbeat compression already enabled"]


def ensure_app_login(conn: DbConn, url: str) -> str:
    """The login of `url` (PULSE_API_DATABASE_URL) exists with that password, is no superuser, and is a member of
    `pulse_app` (migration 0021); run by the schema's owner, which needs CREATEROLE. Says what it did."""
    parts = urlsplit(url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    owner = conn.execute("SELECT current_user AS u").fetchone()
    if not user or owner is None or user == owner["u"]:
        raise MigrationError("PULSE_API_DATABASE_URL: name a login of its own, not the schema owner's")
    return _ensure_login(conn, user, password, "pulse_app")


GRAFANA_LOGIN = "pulse_grafana"


def ensure_grafana_login(conn: DbConn, password: str) -> str:
    """Grafana's login (`pulse_grafana`, PULSE_GRAFANA_DB_PASSWORD) exists with that password and reads only what
    `pulse_figures` may (migration 0026)."""
    return _ensure_login(conn, GRAFANA_LOGIN, password, "pulse_figures")


def _ensure_login(conn: DbConn, user: str, password: str, group: str) -> str:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is not None
    verb = "ALTER" if exists else "CREATE"
    conn.execute(
        sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD {}").format(
            sql.Identifier(user), sql.Literal(password)
        )
    )
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(user)))
    return f"the login {user}: {'kept' if exists else 'created'}, a member of {group}"
