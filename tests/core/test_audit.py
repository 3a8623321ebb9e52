"""The audit trail (issue 31): each audited action writes its row with who, what and before → after (secrets never);
`verify` passes on a clean chain and names the first bad row after an UPDATE, a DELETE in the middle, and a cut
tail made directly in SQL; the API's role (a login of `pulse_app`) cannot UPDATE, DELETE or TRUNCATE the trail.

The expected hashes are recomputed here from the rows' fields with hashlib, independently of `audit.row_hash`."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts, audit
from services.core.settings import Settings
from tests.processes import run_pulse

pytestmark = pytest.mark.db

OWN, OTHER = "15865", "15928"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


class Rollback(Exception):
    pass


def _trail(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT * FROM audit_log ORDER BY audit_id").fetchall()


def test_the_apis_changes_log_ins_and_refusals_are_recorded(settings: Settings, conn: psycopg.Connection) -> None:
    accounts.create_operator(conn, username="tinh", role="admin", unit_set="2024", unit_codes=[], password=None)
    accounts.create_operator(
        conn, username="xa", role="commune", unit_set="2024", unit_codes=[OWN], password="mật khẩu đủ dài 2026"
    )
    admin = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='tinh')}"}
    token_id = conn.execute("SELECT max(token_id) AS t FROM api_tokens").fetchone()["t"]
    incident = conn.execute(
        "INSERT INTO incidents (kind, unit_set, unit_code, camera_ids, opened_at)"
        " VALUES ('camera_down', '2024', %s, ARRAY['cam-1'], %s) RETURNING incident_id",
        (OWN, NOW - timedelta(minutes=5)),
    ).fetchone()["incident_id"]
    conn.execute("UPDATE incidents SET notified_at = %s WHERE incident_id = %s", (NOW, incident))  # the engine's own
    conn.execute("TRUNCATE audit_log")  # from here on: what the API does
    conn.execute("UPDATE audit_head SET audit_id = 0, hash = ''")

    with TestClient(create_app(settings, clock=lambda: NOW)) as client:
        assert client.post("/api/v1/session", json={"username": "xa", "password": "sai"}).status_code == 401
        logged = client.post("/api/v1/session", json={"username": "xa", "password": "mật khẩu đủ dài 2026"})
        csrf = {"X-CSRF-Token": logged.json()["csrf_token"]}
        assert client.post(f"/api/v1/incidents/{incident}/ack", json={"note": "đã gọi chủ hộ"}, headers=csrf).is_success
        assert (
            client.put("/api/v1/units/2024/15865/population", json={"population": 1}, headers=csrf).status_code == 403
        )
        client.cookies.clear()
        put = client.put("/api/v1/units/2024/15865/population", json={"population": 12_345}, headers=admin)
        assert put.is_success
        window = client.post(
            "/api/v1/maintenance",
            json={"unit_code": OWN, "starts_at": "2026-12-08T22:00:00+07:00", "ends_at": "2026-12-09T02:00:00+07:00"},
            headers=admin,
        ).json()["id"]
        assert client.delete(f"/api/v1/maintenance/{window}", headers=admin).status_code == 204
        assert client.get("/api/v1/me", headers={"Authorization": "Bearer pat_not-a-token"}).status_code == 401
        listed = client.get("/api/v1/audit", headers=admin).json()["entries"]

    rows = _trail(conn)
    got = [(r["action"], r["object_kind"], r["object_id"], r["actor"], r["token_id"]) for r in rows]
    xa = rows[1]["object_id"]
    assert got == [
        ("login.failed", "", "", "xa", None),
        ("login", "operators", xa, "xa", None),
        ("incidents.update", "incidents", str(incident), "xa", None),
        ("refused", "", "", "xa", None),
        ("units.update", "units", "2024/15865", "tinh", token_id),
        ("maintenance_windows.insert", "maintenance_windows", str(window), "tinh", token_id),
        ("maintenance_windows.delete", "maintenance_windows", str(window), "tinh", token_id),
        ("token.refused", "", "", None, None),
    ], got
    assert {r["address"] for r in rows} == {"testclient"}
    ack = rows[2]
    assert ack["before"]["acknowledged_by"] is None and ack["after"]["acknowledged_by"] == "xa"
    assert ack["after"]["ack_note"] == "đã gọi chủ hộ" and "camera_ids" not in ack["after"]  # only what changed
    assert rows[3]["after"]["path"] == "/api/v1/units/2024/15865/population"
    assert (rows[4]["before"], rows[4]["after"]) == (
        {"unit_set": "2024", "code": OWN, "population": None},
        {"unit_set": "2024", "code": OWN, "population": 12_345},
    )
    assert rows[6]["before"]["starts_at"] and rows[6]["after"] is None
    assert [e["audit_id"] for e in listed] == [r["audit_id"] for r in reversed(rows)][: len(listed)]  # newest first
    assert set(listed[0]) >= {"audit_id", "at", "actor", "token_id", "address", "action", "object_kind", "object_id"}
    assert audit.verify(conn).ok


def test_secrets_are_never_in_the_trail_and_the_cli_is_named(settings: Settings, conn: psycopg.Connection) -> None:
    user = ("users", "add", "--username", "can-bo", "--role", "admin", "--password", "một mật khẩu dài")
    assert run_pulse(settings, *user)[0] == 0
    created = run_pulse(settings, "tokens", "create", "--username", "can-bo", "--label", "bot")
    token = created[1].strip().splitlines()[-1]
    gateway = run_pulse(settings, "gateways", "add", "--name", "gw-1", "--unit", OWN)[1].strip().splitlines()[-1]
    channel = ("channels", "add", "--kind", "telegram", "--target", "-100123", "--secret", "123:bot-secret")
    assert run_pulse(settings, *channel)[0] == 0
    assert run_pulse(settings, "users", "disable", "can-bo")[0] == 0

    rows = _trail(conn)
    text = json.dumps([[r["before"], r["after"]] for r in rows], ensure_ascii=False)
    for secret in ("một mật khẩu dài", token, gateway, "123:bot-secret"):
        assert secret not in text
    for digest in (accounts.auth.hash_token(token), accounts.auth.hash_token(gateway)):
        assert digest not in text  # not even as its hash
    assert '"password_hash": "secret"' in text and '"secret_enc": "secret"' in text
    actions = [r["action"] for r in rows]
    assert {
        "operators.insert",
        "api_tokens.insert",
        "gateways.insert",
        "gateway_units.insert",
        "channels.insert",
    } <= set(actions)
    disabled = next(r for r in rows if r["action"] == "operators.update")
    assert disabled["before"]["disabled_at"] is None and disabled["after"]["disabled_at"]
    assert all(r["actor"].startswith("cli:") and "@" in r["actor"] for r in rows)

    code, out, _ = run_pulse(settings, "audit", "list", "--action", "operators.", "--json")
    assert code == 0 and [json.loads(line)["action"] for line in out.splitlines()] == [
        "operators.update",
        "operators.insert",
    ]
    code, out, _ = run_pulse(settings, "audit", "verify")
    assert code == 0 and f"{len(rows)} row(s)" in out and rows[-1]["hash"] in out


def _entries(conn: psycopg.Connection, n: int) -> None:
    for k in range(n):
        audit.record(conn, audit.Actor("cli:test@here"), "test.entry", "things", k, {"k": k, "tên": "Hoằng Hóa"})


def test_verify_recomputes_the_chain_and_names_the_first_bad_row(settings: Settings, conn: psycopg.Connection) -> None:
    _entries(conn, 5)
    rows = conn.execute(
        "SELECT audit_id, at, actor, token_id, address, action, object_kind, object_id, before::text, after::text,"
        " prev_hash, hash FROM audit_log ORDER BY audit_id"
    )
    prev = ""
    for r in rows:  # the chain, recomputed here
        micros = (r["at"] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        fields = [prev, r["audit_id"], micros, r["actor"], r["token_id"], r["address"], r["action"]]
        fields += [r["object_kind"], r["object_id"], r["before"], r["after"]]
        text = "\n".join("\\N" if f is None else str(f) for f in fields)
        assert r["prev_hash"] == prev and r["hash"] == hashlib.sha256(text.encode()).hexdigest()
        prev = r["hash"]
    assert audit.verify(conn) == audit.Verdict(5, prev)

    def verdict_after(statement: str) -> audit.Verdict:
        try:
            with conn.transaction():
                conn.execute(statement)
                found = audit.verify(conn)
                raise Rollback
        except Rollback:
            return found

    edited = verdict_after(
        """UPDATE audit_log SET after = '{"k": 2, "tên": "Hoằng Hóa", "sửa": true}' WHERE audit_id = 3"""
    )
    assert (edited.bad_id, edited.rows) == (3, 2) and "does not match its hash" in (edited.reason or "")
    rehashed = verdict_after(  # an edit whose author also recomputed that row's own hash: the next link breaks
        "UPDATE audit_log SET after = '{}', hash = audit_hash(prev_hash, audit_id, at, actor, token_id, address,"
        " action, object_kind, object_id, before, '{}') WHERE audit_id = 3"
    )
    assert rehashed.bad_id == 4 and "link" in (rehashed.reason or "")
    removed = verdict_after("DELETE FROM audit_log WHERE audit_id = 2")
    assert removed.bad_id == 2 and "missing" in (removed.reason or "")
    cut = verdict_after("DELETE FROM audit_log WHERE audit_id = 5")
    assert cut.bad_id == 5 and "removed" in (cut.reason or "")
    assert audit.verify(conn).ok  # all of it rolled back

    conn.execute("DELETE FROM audit_log WHERE audit_id = 4")
    code, _, err = run_pulse(settings, "audit", "verify")
    assert code == 1 and "broken at row 4" in err


def test_the_apis_role_can_only_add_to_the_trail(settings: Settings, conn: psycopg.Connection) -> None:
    _entries(conn, 2)
    assert settings.api_database_url is not None
    with psycopg.connect(settings.api_database_url, autocommit=True) as api:
        for statement in (
            "UPDATE audit_log SET action = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "INSERT INTO audit_log SELECT * FROM audit_log LIMIT 1",
            "UPDATE audit_head SET audit_id = 0",
            "DROP TRIGGER audit ON operators",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                api.execute(statement)
        api.execute("SELECT audit_append('test.entry', '', '', NULL, NULL)")  # the one way in
        assert api.execute("SELECT count(*) FROM audit_log").fetchone() == (3,)
    assert audit.verify(conn).rows == 3
