"""What the local infrastructure's services share: errors for the operator, status, pinned versions, and
looking at processes and ports."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


class LocalService(Protocol):
    """A server the project runs here (PostgreSQL, its replica, a Kafka node)."""

    def status(self) -> ServiceStatus: ...

    def stop(self) -> str: ...


@dataclass(frozen=True)
class ServerTls:
    """A local server's TLS identity (a test's, or a developer's trying TLS out): its certificate and its key
    (PEM, the key unencrypted) and the CA that signed it."""

    cert: Path
    key: Path
    ca: Path


def pinned_versions() -> dict[str, str]:
    values = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pid_alive(pid: int | None) -> bool:
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


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
