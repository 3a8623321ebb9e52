"""Local infrastructure without Docker: a real Apache Kafka broker (KRaft) and PostgreSQL + TimescaleDB.

`pulse infra start` runs both from what `make setup` installed (Debian's PostgreSQL 15 with TimescaleDB built
from Debian's source package; Kafka jars resolved from Maven Central into the cache), with their data, logs and
pid files under `PULSE_DATA_DIR` (default `./var/`). Starting is idempotent and returns only when both accept
connections. PostgreSQL refuses to run as root, so when we are root its commands run as the `postgres` user.
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from services.core.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VERSIONS_FILE = PROJECT_ROOT / "infra" / "versions.env"


class InfraError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    address: str
    pid: int | None
    detail: str


def pinned_versions() -> dict[str, str]:
    values = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); it is not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# Ingest's writer holds an advisory lock per camera of a transaction (up to 4,000), the rollup per camera of a
# step (up to 5,000); the shared lock table has max_locks_per_transaction × max_connections slots (TimescaleDB
# also takes a lock per chunk a statement touches, and its own tuning raises this setting too).
_LOCKS_SETTING = "max_locks_per_transaction = 256"


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

    def __init__(self, settings: Settings) -> None:
        versions = pinned_versions()
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
        pid = _read_pid(self.datadir / "postmaster.pid") if self.datadir.exists() else None
        running = _pid_alive(pid) and _port_open(self.host, self.port)
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
        if _port_open(self.host, self.port):
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
            raise InfraError(f"PostgreSQL did not start: {result.stderr.strip()}\n{_log_tail(self.logfile)}")
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
                "max_connections = 200\nshared_buffers = 256MB\nmax_wal_size = 2GB\n"
                f"{_LOCKS_SETTING}\n"
            )

    def _add_missing_settings(self) -> None:
        """Settings added to the local cluster's configuration after clusters were made with it, appended to an
        older `postgresql.conf` before it starts (the file is the cluster's own, under PULSE_DATA_DIR)."""
        conf = self.datadir / "postgresql.conf"
        text = conf.read_text()
        if _LOCKS_SETTING not in text:
            with conf.open("a") as f:
                f.write(f"\n# added by commune-pulse (services/infra/local.py)\n{_LOCKS_SETTING}\n")

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


class Kafka:
    """A single-node Apache Kafka broker in KRaft mode (broker + controller) under <data_dir>/kafka."""

    def __init__(self, settings: Settings) -> None:
        versions = pinned_versions()
        self.version = versions["KAFKA_VERSION"]
        self.libs = settings.cache_dir / f"kafka-{self.version}" / "libs"
        self.base = settings.data_dir.resolve()
        self.dir = self.base / "kafka"
        self.logfile = self.base / "log" / "kafka.log"
        self.pidfile = self.base / "run" / "kafka.pid"
        first = settings.kafka_bootstrap.split(",")[0]
        host, port = first.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.controller_port = self.port + 1

    def status(self) -> ServiceStatus:
        pid = _read_pid(self.pidfile)
        running = _pid_alive(pid) and _port_open(self.host, self.port)
        return ServiceStatus(
            f"kafka {self.version}",
            running,
            f"{self.host}:{self.port}",
            pid if running else None,
            f"data {self.dir / 'data'}, log {self.logfile}",
        )

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if not java:
            raise InfraError("java not found; run `make setup` first")
        return [
            java,
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def _write_config(self) -> Path:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        props = self.dir / "server.properties"
        props.write_text(
            "# written by `pulse infra start` (services/infra/local.py)\n"
            "process.roles=broker,controller\nnode.id=1\n"
            f"controller.quorum.bootstrap.servers={self.host}:{self.controller_port}\n"
            f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}\n"
            f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}\n"
            "controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
            f"log.dirs={self.dir / 'data'}\n"
            "num.partitions=4\ndefault.replication.factor=1\nmin.insync.replicas=1\n"
            "offsets.topic.replication.factor=1\ntransaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\nshare.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\ngroup.initial.rebalance.delay.ms=0\n"
            "auto.create.topics.enable=false\nlog.retention.hours=168\n"
        )
        (self.dir / "log4j2.properties").write_text(
            "status = warn\nappender.file.type = File\nappender.file.name = file\n"
            f"appender.file.fileName = {self.logfile}\nappender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = info\nrootLogger.appenderRef.file.ref = file\n"
            "logger.kafka.name = kafka\nlogger.kafka.level = info\n"
            "logger.state.name = state.change.logger\nlogger.state.level = warn\n"
        )
        return props

    def start(self, timeout_s: float = 90) -> str:
        if not self.libs.is_dir():
            raise InfraError(f"Kafka {self.version} jars not found in {self.libs}; run `make setup` first")
        if self.status().running:
            return "already running"
        if _port_open(self.host, self.port):
            raise InfraError(f"port {self.port} is taken by another program; set PULSE_KAFKA_BOOTSTRAP to another port")
        (self.base / "log").mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        props = self._write_config()
        if not (self.dir / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            result = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(props)),
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise InfraError(f"formatting Kafka storage failed: {result.stderr.strip() or result.stdout.strip()}")
        # Started through a shell that backgrounds the broker and exits, so the broker outlives this process
        # and is nobody's child here (no zombie, nothing to wait for); we keep its pid.
        out = shlex.quote(str(self.base / "log" / "kafka.out"))
        launch = subprocess.run(
            ["sh", "-c", f"{shlex.join(self._java('kafka.Kafka', str(props)))} >>{out} 2>&1 </dev/null & echo $!"],
            capture_output=True,
            text=True,
            start_new_session=True,
            check=True,
        )
        pid = int(launch.stdout.strip())
        self.pidfile.write_text(str(pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                raise InfraError(f"Kafka exited during start:\n{_log_tail(self.logfile)}")
            if _port_open(self.host, self.port) and self._answers_metadata():
                return "started"
            time.sleep(0.5)
        raise InfraError(f"Kafka did not accept connections within {timeout_s:.0f} s:\n{_log_tail(self.logfile)}")

    def _answers_metadata(self) -> bool:
        """True once the broker answers a metadata request (the port opens before KRaft is ready)."""
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> bool:
            client = AIOKafkaAdminClient(bootstrap_servers=f"{self.host}:{self.port}", request_timeout_ms=3000)
            try:
                await client.start()
                await client.list_topics()
                return True
            except Exception:
                return False
            finally:
                await client.close()

        return asyncio.run(probe())

    def stop(self, timeout_s: float = 30, *, kill: bool = False) -> str:
        """SIGTERM (a clean shutdown, SIGKILL after `timeout_s`), or with `kill` SIGKILL at once: a crash."""
        pid = _read_pid(self.pidfile)
        if not _pid_alive(pid):
            self.pidfile.unlink(missing_ok=True)
            return "not running"
        assert pid is not None
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return "stopped"


def services(settings: Settings) -> tuple[Postgres, Kafka]:
    return Postgres(settings), Kafka(settings)
