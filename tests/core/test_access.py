"""Access that can be taken back (issue 31): tokens expire and may be read-only; passwords follow a policy (at least
12 characters, not in the common and breached lists zxcvbn ships) checked wherever one is set; a password change in
the dashboard ends the other sessions."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts, auth
from services.core.settings import Settings
from tests.e2e.harness import free_port
from tests.processes import database_env, pulse_command, run_pulse

STRONG = "trực ban đêm Hoằng Hóa"


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("ngắn quá", "at least 12 characters"),
        ("123456789012", "common or breached"),
        ("passwordpassword", "common or breached"),
        ("qwertyuiopas", "common or breached"),
        ("hoangphu1234", "common or breached"),  # the username and digits
        ("abc123abc123", "repeats"),
    ],
)
def test_weak_passwords_are_refused_with_why(password: str, why: str) -> None:
    problem = auth.password_problem(password, "hoangphu")
    assert problem is not None and why in problem and problem.startswith("password:")


def test_a_passphrase_passes() -> None:
    assert auth.password_problem(STRONG, "truc.ban") is None


@pytest.mark.db
def test_tokens_expire_and_a_read_only_one_changes_nothing(settings: Settings, conn: psycopg.Connection) -> None:
    accounts.create_operator(conn, username="tinh", role="admin", unit_set="2024", unit_codes=[], password=None)
    code, out, _ = run_pulse(settings, "tokens", "create", "--username", "tinh", "--read-only", "--days", "7")
    assert code == 0 and "read-only, valid 7 days" in out
    reader = {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}
    full = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='tinh')}"}
    incident = conn.execute(
        "INSERT INTO incidents (kind, unit_set, unit_code, camera_ids, opened_at)"
        " VALUES ('camera_down', '2024', '15865', ARRAY['c'], now()) RETURNING incident_id"
    ).fetchone()["incident_id"]
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/units", headers=reader).status_code == 200
        refused = client.post(f"/api/v1/incidents/{incident}/ack", json={}, headers=reader)
        assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
        assert client.post(f"/api/v1/incidents/{incident}/ack", json={}, headers=full).status_code == 200
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE NOT read_only")
        assert client.get("/api/v1/me", headers=full).status_code == 401
    listed = run_pulse(settings, "tokens", "list")[1]
    assert "read-only" in listed and "expired" in listed and "active until" in listed
    assert run_pulse(settings, "tokens", "create", "--username", "tinh", "--days", "400")[0] == 1
    week = conn.execute("SELECT expires_at - created_at AS life FROM api_tokens WHERE read_only").fetchone()["life"]
    assert week.days == 7
    accounts.create_api_token(conn, username="tinh")
    life = conn.execute("SELECT expires_at - created_at AS l FROM api_tokens ORDER BY token_id DESC LIMIT 1").fetchone()
    assert life["l"].days == 90


@pytest.mark.db
def test_passwords_are_checked_wherever_they_are_set(settings: Settings, conn: psycopg.Connection) -> None:
    code, _, err = run_pulse(settings, "users", "add", "--username", "xa1", "--role", "admin", "--password", "12345678")
    assert code == 1 and "at least 12 characters" in err
    assert run_pulse(settings, "users", "add", "--username", "xa1", "--role", "admin", "--password", STRONG)[0] == 0
    code, _, err = run_pulse(settings, "users", "passwd", "xa1", "--password", "passwordpassword")
    assert code == 1 and "common or breached" in err
    session = accounts.open_session(conn, username="xa1", password=STRONG, idle_hours=8)
    assert session is not None
    other = accounts.open_session(conn, username="xa1", password=STRONG, idle_hours=8)
    with TestClient(create_app(settings)) as client:
        client.cookies.set("pulse_session", session)
        csrf = {"X-CSRF-Token": auth.csrf_token(session)}
        weak = client.put("/api/v1/session/password", json={"current": STRONG, "new": "hoanghoa123"}, headers=csrf)
        assert weak.status_code == 422 and weak.json()["detail"].startswith("new:")
        wrong = client.put("/api/v1/session/password", json={"current": "nope", "new": "x" * 20}, headers=csrf)
        assert wrong.status_code == 403
        new = "đổi mật khẩu sau khi bàn giao"
        changed = client.put("/api/v1/session/password", json={"current": STRONG, "new": new}, headers=csrf)
        assert changed.status_code == 204
        assert client.get("/api/v1/me").status_code == 200  # this session stays
        client.cookies.set("pulse_session", other or "")
        assert client.get("/api/v1/me").status_code == 401  # the other one ended
    assert accounts.open_session(conn, username="xa1", password=new, idle_hours=8) is not None
    actions = [r["action"] for r in conn.execute("SELECT action FROM audit_log ORDER BY audit_id")]
    assert "operators.update" in actions  # the change, in the trail (its hash never)


@pytest.mark.db
def test_a_session_ends_at_its_absolute_lifetime(settings: Settings, conn: psycopg.Connection) -> None:
    accounts.create_operator(conn, username="ca.dem", role="viewer", unit_set="2024", unit_codes=[], password=STRONG)
    session = accounts.open_session(conn, username="ca.dem", password=STRONG, idle_hours=8)
    assert session is not None
    with TestClient(create_app(settings.model_copy(update={"session_max_hours": 24}))) as client:
        client.cookies.set("pulse_session", session)
        assert client.get("/api/v1/me").status_code == 200
        conn.execute("UPDATE sessions SET created_at = now() - interval '24 hours 1 second'")  # used all along
        assert client.get("/api/v1/me").status_code == 401


@pytest.mark.db
def test_log_in_throttling_holds_across_two_api_processes(settings: Settings, conn: psycopg.Connection) -> None:
    """Two `pulse api` processes (nothing shared but the database): failures on one count on the other."""
    accounts.create_operator(conn, username="tinh", role="admin", unit_set="2024", unit_codes=[], password=STRONG)
    ports = [free_port(), free_port()]
    env = {
        **os.environ,
        **database_env(settings),
        "PULSE_API_DATABASE_URL": settings.api_database_url or "",
        "PULSE_LOGIN_FAILURES_PER_15MIN": "4",
        "PULSE_LOG_LEVEL": "WARNING",
    }
    apis = [subprocess.Popen(pulse_command("api"), env={**env, "PULSE_API_PORT": str(port)}) for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 60
        for base, api in zip(bases, apis, strict=True):
            while not _answers(f"{base}/healthz"):
                assert api.poll() is None and time.monotonic() < deadline, "a `pulse api` did not start"
                time.sleep(0.1)  # ok: polls the process with a deadline (above); this test is synchronous
        for base in (*bases, *bases):
            wrong = httpx.post(f"{base}/api/v1/session", json={"username": "tinh", "password": "sai rồi"})
            assert wrong.status_code == 401
        for base in bases:
            limited = httpx.post(f"{base}/api/v1/session", json={"username": "tinh", "password": STRONG})
            assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 900
    finally:
        for api in apis:
            api.terminate()
            api.wait(timeout=30)
    actions = [r["action"] for r in conn.execute("SELECT action FROM audit_log ORDER BY audit_id")]
    assert actions.count("login.failed") == 4 and actions.count("login.locked") == 1


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
