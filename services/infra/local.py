"""Local infrastructure without Docker: PostgreSQL + TimescaleDB here, Apache Kafka (KRaft) in `kafka.py`.

`pulse infra start` runs both from what `make setup` installed (Debian's PostgreSQL 15 with TimescaleDB built
from Debian's source package; Kafka jars resolved from Maven Central into the cache), with their data, logs and
pid files under `PULSE_DATA_DIR` (default `./var/`). Starting is idempotent and returns only when both accept
connections. PostgreSQL refuses to run as root, so when we are root its commands run as the `postgres` user.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

from services.core.settings import Settings
from services.infra.kafka import kafka_nodes, start_kafka
from services.infra.process import (
    InfraError,
    LocalService,
    ServerTls,
    ServiceStatus,
    log_tail,
    pid_alive,
    pinned_versions,
    port_open,
    read_pid,
)

# Ingest's writer holds an advisory lock per camera of a transaction (up to 4,000), the rollup per camera of a
# step (up to 5,000); the shared lock table has max_locks_per_transaction × max_connections slots (TimescaleDB
# also takes a lock per chunk a statement touches, and its own tuning raises this setting too).
_LOCKS_SETTING = "max_locks_per_transaction = 256"
# The replica's slot keeps the WAL it has not received yet, up to this much: a replica stopped for long must not
# fill the primary's disk. Beyond it the slot is lost and `pulse infra start` makes the replica again.
_SLOT_WAL_SETTING = "max_slot_wal_keep_size = 8GB"
# Pages in memory or on SSD: a random read costs about what a sequential one does. With the default (4, for
# spinning disks) the writer hashed the whole fleet's `cameras` and `camera_status` to look up a batch's cameras;
# a province's backlog drained at 20,470 heartbeats/s against 29,875 with this (docs/benchmarks.md §1).
_PLANNER_SETTING = "random_page_cost = 1.1"
# TimescaleDB runs a scheduler per database that has the extension (the product's, the tests', the benchmarks'),
# each starting its jobs as background workers; with the default 8 slots they ran out ("failed to start a
# background worker" every second) and none were left for parallel queries. A replica needs at least the
# primary's value: both clusters get this file's settings.
_WORKERS_SETTING = "max_worker_processes = 24"
# A province's heartbeats rewrite every camera's latest-state row each minute. With checkpoints every minute (the
# default 5 min / 2 GB of WAL, reached in ~65 s at 150,000 cameras) each of those pages went to the WAL whole after
# every checkpoint: 1.1 GB of WAL a minute, a checkpoint always writing, and the replica replaying it all; with
# these, 147 MB a minute (docs/benchmarks.md §15). Fewer checkpoints, compressed page images.
_CHECKPOINT_SETTINGS = ("max_wal_size = 8GB", "checkpoint_timeout = 15min", "wal_compression = lz4")
_ADDED_SETTINGS = (_LOCKS_SETTING, _SLOT_WAL_SETTING, _PLANNER_SETTING, _WORKERS_SETTING, *_CHECKPOINT_SETTINGS)
REPLICA_SLOT = "pulse_replica"
_SLOT_STATUS = "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pulse_replica'"
_DROP_IDLE_SLOT = (
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
    " WHERE slot_name = 'pulse_replica' AND NOT active"
)


def unreachable_ancestor(path: Path, uid: int, gids: set[int]) -> Path | None:
    """The first directory on the way to `path` that user `uid` (in groups `gids`) may not enter, from the mode
    bits (no ACLs); None when every one can be entered. `path` itself need not exist yet."""
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            return None  # created later, by root, and handed over
        if uid == 0:
            continue
        bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid in gids else stat.S_IXOTH
        if not st.st_mode & bit:
            return directory
    return None


def _postgres_user_can_reach(path: Path) -> None:
    """As root, PostgreSQL runs as `postgres`, which must be able to walk to its data directory: a project cloned
    under /root (mode 700) is not reachable, and initdb would fail with "Permission denied" deep in its output."""
    user = pwd.getpwnam("postgres")
    gids = {user.pw_gid, *(g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem)}
    blocked = unreachable_ancestor(path, user.pw_uid, gids)
    if blocked is not None:
        raise InfraError(
            f"PostgreSQL runs as the postgres user, which cannot enter {blocked}: set PULSE_DATA_DIR to a directory "
            "it can reach (e.g. PULSE_DATA_DIR=/var/lib/commune-pulse) or clone the project elsewhere (e.g. /srv)"
        )


class Postgres:
    """A PostgreSQL 15 cluster of the project's own under <data_dir>/postgres, with TimescaleDB preloaded."""

    def __init__(self, settings: Settings, *, tls: ServerTls | None = None) -> None:
        """`tls`: a cluster that answers over TLS only (its certificate and key; connections in clear refused)."""
        versions = pinned_versions()
        self.tls = tls
        self.bindir = Path(f"/usr/lib/postgresql/{versions['PG_MAJOR']}/bin")
        self.base = settings.data_dir.resolve()
        self.datadir = self.base / "postgres"
        self.sockdir = self.base / "run"
        self.logfile = self.base / "log" / "postgres.log"
        url = urlsplit(settings.database_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 5432
        self.user = unquote(url.username or "pulse")
        self.password = unquote(url.password or "")
        self.database = url.path.strip("/")
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check)

    def _prepare_dirs(self) -> None:
        if self.as_root:
            _postgres_user_can_reach(self.datadir)
        for d in (self.base / "log", self.sockdir):
            d.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            uid = pwd.getpwnam("postgres").pw_uid
            gid = pwd.getpwnam("postgres").pw_gid
            for d in (self.sockdir, self.base / "log"):
                os.chown(d, uid, gid)
            if self.logfile.exists():
                os.chown(self.logfile, uid, gid)

    def status(self) -> ServiceStatus:
        pid = read_pid(self.datadir / "postmaster.pid") if self.datadir.exists() else None
        running = pid_alive(pid) and port_open(self.host, self.port)
        return ServiceStatus(
            "postgresql",
            running,
            f"{self.host}:{self.port}",
            pid if running else None,
            f"data {self.datadir}, log {self.logfile}",
        )

    def start(self) -> str:
        if not (self.bindir / "postgres").exists():
            raise InfraError(f"PostgreSQL not found in {self.bindir}; run `make setup` first")
        self._prepare_dirs()
        if self.status().running:
            return "already running"
        if port_open(self.host, self.port):
            raise InfraError(
                f"port {self.port} is taken by another program (Debian's own cluster? "
                "`pg_ctlcluster 15 main stop`), or set PULSE_DATABASE_URL to another port"
            )
        if not (self.datadir / "PG_VERSION").exists():
            self._init_cluster()
        self._add_missing_settings()
        result = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log_tail(self.logfile)}")
        self._bootstrap_database()
        return "started"

    def _init_cluster(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.datadir, "postgres", "postgres")
        result = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"initdb failed: {result.stderr.strip()}")
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# commune-pulse local cluster (services/infra/local.py)\n"
                f"listen_addresses = '{self.host}'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.sockdir}'\n"
                "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n"
                "max_connections = 200\nshared_buffers = 256MB\n"
                + "".join(f"{setting}\n" for setting in _ADDED_SETTINGS)
            )
        if self.tls is not None:
            self._tls_only(self.tls)

    def _tls_only(self, tls: ServerTls) -> None:
        """Its certificate and key in the data directory (the key readable by the server's user alone), `ssl = on`,
        and connections over TCP accepted over TLS only."""
        for source, name in ((tls.cert, "server.crt"), (tls.key, "server.key")):
            target = self.datadir / name
            shutil.copyfile(source, target)
            target.chmod(0o600)
            if self.as_root:
                shutil.chown(target, "postgres", "postgres")
        with (self.datadir / "postgresql.conf").open("a") as f:
            f.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        (self.datadir / "pg_hba.conf").write_text(
            "# commune-pulse local cluster over TLS only (services/infra/local.py)\n"
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostnossl all all all reject\n"
        )

    def _add_missing_settings(self) -> None:
        """Settings added to the local cluster's configuration after clusters were made with it, appended to an
        older `postgresql.conf` before it starts (the file is the cluster's own, under PULSE_DATA_DIR)."""
        conf = self.datadir / "postgresql.conf"
        text = conf.read_text()
        missing = [setting for setting in _ADDED_SETTINGS if setting not in text]
        if missing:
            with conf.open("a") as f:
                f.write("\n# added by commune-pulse (services/infra/local.py)\n" + "".join(f"{m}\n" for m in missing))

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._run(
            str(self.bindir / "psql"),
            "-h",
            str(self.sockdir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atqc",
            sql,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _bootstrap_database(self) -> None:
        """Create the product's role and database (idempotent); the role may create extensions."""
        role = self.user.replace('"', '""')
        password = self.password.replace("'", "''")
        # Values come from the operator's own PULSE_DATABASE_URL, quoted; psql -c has no bind parameters.
        exists = self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{self.user.replace(chr(39), '')}'")  # noqa: S608
        verb = "ALTER" if exists else "CREATE"
        self.psql(f"{verb} ROLE \"{role}\" LOGIN SUPERUSER PASSWORD '{password}'")
        self.ensure_database(self.database)

    def ensure_database(self, name: str, *, recreate: bool = False) -> None:
        quoted = name.replace('"', '""')
        if recreate:
            self.psql(f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)')
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name.replace(chr(39), '')}'"):  # noqa: S608
            self.psql(f'CREATE DATABASE "{quoted}" OWNER "{self.user.replace(chr(34), chr(34) * 2)}"')
        self.psql("CREATE EXTENSION IF NOT EXISTS timescaledb", database=name)

    def stop(self, mode: str = "fast") -> str:
        """`mode` is pg_ctl's: "fast" for a clean stop, "immediate" for a crash (recovery at the next start)."""
        if not self.status().running:
            return "not running"
        result = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)
        if result.returncode != 0:
            raise InfraError(f"PostgreSQL did not stop: {result.stderr.strip()}")
        return "stopped"


class Replica(Postgres):
    """A streaming replica of the local cluster (read-only, hot standby) under <data_dir>/postgres-replica, on the
    port of PULSE_DATABASE_READ_URL (default: the primary's + 1): made with `pg_basebackup -R` the first time, with
    a replication slot on the primary (`REPLICA_SLOT`) that keeps the WAL the replica has not received yet.

    A replica whose slot is gone or lost (stopped while the primary wrote more than `max_slot_wal_keep_size`, or
    made before there was a slot) can never catch up — it would wait for removed WAL for ever — so `start` makes
    it again from the primary: it holds nothing of its own."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.primary = Postgres(settings)
        read = urlsplit(settings.database_read_url) if settings.database_read_url else None
        self.port = (read.port if read else None) or self.primary.port + 1
        self.datadir = self.base / "postgres-replica"
        self.logfile = self.base / "log" / "postgres-replica.log"

    def status(self) -> ServiceStatus:
        return dataclasses.replace(super().status(), name="postgresql replica")

    def start(self) -> str:
        if (self.datadir / "PG_VERSION").exists() and self.stranded():
            self.stop()
            shutil.rmtree(self.datadir)
            return f"{super().start()} (made again: it had fallen behind the WAL the primary keeps for it)"
        return super().start()

    def slot_status(self) -> str:
        """The primary's view of the replica's slot: `wal_status` (reserved, extended, unreserved, lost), or ""
        when there is none."""
        return self.primary.psql(_SLOT_STATUS)

    def stranded(self) -> bool:
        return self.slot_status() in ("", "lost")

    def drop_slot(self) -> None:
        """Drop the slot on the primary, if there is one and nothing streams from it: a replica made before was
        lost or deleted, and its slot would keep WAL for nobody."""
        self.primary.psql(_DROP_IDLE_SLOT)

    def _init_cluster(self) -> None:
        # Made beside its place and moved there whole: a copy interrupted (Ctrl-C, a crash) before its own port is
        # written would be the primary's configuration, and start on the primary's port.
        making = self.datadir.with_name(self.datadir.name + ".making")
        shutil.rmtree(making, ignore_errors=True)
        making.mkdir(parents=True)
        making.chmod(0o700)
        if self.as_root:
            shutil.chown(making, "postgres", "postgres")
        self.drop_slot()  # one left by a replica made before is replaced by this one's
        result = self._run(
            str(self.bindir / "pg_basebackup"),
            *("-D", str(making), "-h", str(self.sockdir), "-p", str(self.primary.port), "-U", "postgres"),
            *("-R", "-X", "stream", "-c", "fast", "-C", "-S", REPLICA_SLOT),
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(making, ignore_errors=True)  # half a copy is no replica: try again from scratch
            raise InfraError(f"pg_basebackup from the primary failed: {result.stderr.strip()}")
        with (making / "postgresql.conf").open("a") as f:
            f.write(f"\n# the replica (services/infra/local.py)\nport = {self.port}\nhot_standby = on\n")
        shutil.rmtree(self.datadir, ignore_errors=True)
        making.rename(self.datadir)

    def _bootstrap_database(self) -> None:
        pass  # read-only: it has what the primary has


def replica_wanted(settings: Settings) -> bool:
    return (settings.data_dir.resolve() / "postgres-replica").exists()


def _databases(settings: Settings, replica: bool | None) -> list[Postgres]:
    """PostgreSQL, and its replica when asked (`replica`), or else when one was made here before."""
    wanted = replica_wanted(settings) if replica is None else replica
    return [Postgres(settings), *([Replica(settings)] if wanted else [])]


def services(
    settings: Settings, kafka_brokers: int | None = None, *, replica: bool | None = None
) -> tuple[LocalService, ...]:
    """PostgreSQL, its replica (when asked, or made here before), and the Kafka nodes (`kafka.kafka_nodes`)."""
    return (*_databases(settings, replica), *kafka_nodes(settings, kafka_brokers))


def start_all(
    settings: Settings, kafka_brokers: int | None = None, *, replica: bool | None = None
) -> list[tuple[str, str]]:
    """Start PostgreSQL (and its replica), and the Kafka nodes (idempotent); returns each one's name and what was
    done."""
    databases = _databases(settings, replica)
    done = [(db.status().name, db.start()) for db in databases]
    if len(databases) == 1:
        Replica(settings).drop_slot()  # the replica's copy was deleted: its slot must not keep WAL for nobody
    nodes = kafka_nodes(settings, kafka_brokers)
    return done + [(node.status().name, what) for node, what in zip(nodes, start_kafka(settings, nodes), strict=True)]
