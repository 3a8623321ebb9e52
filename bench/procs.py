"""The product's components as subprocesses for a benchmark: each run gets its own topics, data dir and ports.

Components are started with `.venv/bin/pulse <command>` and configured only through `PULSE_*` variables, as in
production; their output goes to log files in the run's data dir, so stdout stays the benchmark's JSON.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from services.core import kafka
from services.core.settings import Settings, load_settings
from services.infra.kafka import kafka_nodes
from services.infra.local import Postgres
from services.infra.process import read_pid

PULSE = Path(sys.executable).with_name("pulse")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolate(settings: Settings, data_dir: Path) -> Settings:
    """Fresh topic prefix, data dir (the gateway's spool) and ports, on the given database."""
    return settings.model_copy(
        update={
            "kafka_prefix": f"bench-{uuid.uuid4().hex[:8]}.",
            "data_dir": data_dir,
            "gateway_port": free_port(),
            "api_port": free_port(),
            "ingest_metrics_port": free_port(),
            "log_level": "WARNING",
        }
    )


def component_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PULSE_DATABASE_URL=settings.database_url,
        PULSE_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        PULSE_KAFKA_PREFIX=settings.kafka_prefix,
        PULSE_DATA_DIR=str(settings.data_dir),
        PULSE_GATEWAY_PORT=str(settings.gateway_port),
        PULSE_API_PORT=str(settings.api_port),
        PULSE_INGEST_METRICS_PORT=str(settings.ingest_metrics_port),
        PULSE_LOG_LEVEL=settings.log_level,
    )
    return env


class Components:
    """Started subprocesses, stopped together (SIGTERM, then SIGKILL after a grace period)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.extra_env: dict[str, str] = {}  # PULSE_* a component needs beyond component_env (e.g. a secret)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(Path(self.settings.data_dir) / f"{name}.log", "wb") as log:  # the child keeps its own copy
            env = component_env(self.settings) | self.extra_env
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def pulse(self, command: str) -> subprocess.Popen[bytes]:
        return self.start(command, [str(PULSE), command])

    def log_tail(self, name: str, lines: int = 20) -> str:
        text = (Path(self.settings.data_dir) / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_ok(self, name: str, url: str, timeout: float = 60.0) -> None:
        """Poll `url` until it answers 200; fail with the component's log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.procs[name].returncode}:\n{self.log_tail(name)}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready at {url} after {timeout:.0f} s:\n{self.log_tail(name)}")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_ingest_group(settings: Settings, processes: int) -> Components:
    """`processes` × `pulse ingest` in one consumer group, each with its own metrics port, logs in a temp dir."""
    base = settings.model_copy(
        update={"data_dir": Path(tempfile.mkdtemp(prefix="pulse-bench-ingest-")), "log_level": "WARNING"}
    )
    components = Components(base)
    for i in range(processes):
        components.settings = base.model_copy(update={"ingest_metrics_port": free_port()})
        components.start(f"ingest-{i}", [str(PULSE), "ingest"])
    return components


def metric_totals(url: str) -> dict[str, float]:
    """A component's Prometheus samples, summed over labels (a missing one reads 0)."""
    totals: dict[str, float] = defaultdict(float)
    for line in httpx.get(url, timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            totals[name.split("{", 1)[0]] += float(value)
    return totals


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc): `pulse ingest` runs its rollup in one."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(entry))
    return found


def postgres_pids() -> list[int]:
    """The local PostgreSQL primary's processes: its postmaster and every backend and worker under it (a running
    replica is another server, with CPU of its own, and is not counted)."""
    postmaster = read_pid(Postgres(load_settings()).datadir / "postmaster.pid")
    return [postmaster, *children_of(postmaster)] if postmaster else []


def kafka_pids() -> list[int]:
    """Every local Kafka node's process: one broker, or each node of `pulse infra start --kafka-brokers N`."""
    return [pid for node in kafka_nodes(load_settings()) if (pid := read_pid(node.pidfile))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: shows whether a server was CPU-bound during a run."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def total_cpu_seconds(pids: Iterable[int]) -> float:
    """`cpu_seconds` of several processes; one that ended meanwhile (a PostgreSQL backend) counts 0."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


async def delete_topics(settings: Settings) -> None:
    """The run's own topics only (its prefix is unique), so the broker's disk does not fill run after run."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        await admin.delete_topics([kafka.topic(settings, n) for n in kafka.ALL_TOPICS])
    finally:
        await admin.close()


def ensure_topics(settings: Settings) -> None:
    asyncio.run(kafka.ensure_topics(settings))
