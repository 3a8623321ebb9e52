"""`/api/v1/users` and `/api/v1/tokens` (issue 31): an admin sees who has access and takes it back; the account's
token is refused from its next request, its sessions end; every change is the admin's in the audit trail; no
one else may look or act."""

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts
from services.core.settings import Settings

pytestmark = pytest.mark.db
PASSWORD = "một mật khẩu đủ dài cho phiên"


@pytest.fixture
def client(settings: Settings, conn: psycopg.Connection) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def _token(conn: psycopg.Connection, username: str, role: str, units: list[str] | None = None) -> str:
    accounts.create_operator(
        conn, username=username, role=role, unit_set="2024", unit_codes=units or [], password=PASSWORD
    )
    return accounts.create_api_token(conn, username=username, label=f"{username}'s script")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_disables_an_account_and_its_token_and_session_are_refused_at_once(
    client: TestClient, conn: psycopg.Connection
) -> None:
    admin = _auth(_token(conn, "tinh", "admin"))
    xa = _token(conn, "xa.hoang.giang", "commune", ["15880"])
    session = TestClient(client.app)
    assert session.post("/api/v1/session", json={"username": "xa.hoang.giang", "password": PASSWORD}).status_code == 200
    assert (
        client.get("/api/v1/me", headers=_auth(xa)).status_code == 200 and session.get("/api/v1/me").status_code == 200
    )

    listed = {u["username"]: u for u in client.get("/api/v1/users", headers=admin).json()["items"]}
    assert listed["xa.hoang.giang"] == {
        "username": "xa.hoang.giang",
        "role": "commune",
        "district_code": None,
        "units": ["2024/15880"],
        "has_password": True,
        "created_at": listed["xa.hoang.giang"]["created_at"],
        "disabled_at": None,
        "sessions": 1,
        "tokens": 1,
    }
    assert "hash" not in str(listed)

    assert client.post("/api/v1/users/xa.hoang.giang/disable", headers=admin).json() == {
        "username": "xa.hoang.giang",
        "disabled": True,
    }
    assert client.get("/api/v1/me", headers=_auth(xa)).status_code == 401
    assert session.get("/api/v1/me").status_code == 401
    after = {u["username"]: u for u in client.get("/api/v1/users", headers=admin).json()["items"]}
    assert after["xa.hoang.giang"]["disabled_at"] is not None and after["xa.hoang.giang"]["sessions"] == 0

    assert client.post("/api/v1/users/xa.hoang.giang/enable", headers=admin).status_code == 200
    assert client.get("/api/v1/me", headers=_auth(xa)).status_code == 200  # its token works again
    assert session.get("/api/v1/me").status_code == 401  # its session does not: it logs in anew

    entries = conn.execute(
        "SELECT actor, action, before, after FROM audit_log WHERE action = 'operators.update' ORDER BY audit_id"
    ).fetchall()
    assert [e["actor"] for e in entries] == ["tinh", "tinh"]
    assert entries[0]["before"]["disabled_at"] is None and entries[0]["after"]["disabled_at"] is not None


def test_an_admin_revokes_a_token_and_cannot_lock_itself_out(client: TestClient, conn: psycopg.Connection) -> None:
    admin = _auth(_token(conn, "tinh", "admin"))
    viewer = _token(conn, "xem", "viewer")
    tokens = client.get("/api/v1/tokens", headers=admin).json()["items"]
    mine = next(t for t in tokens if t["username"] == "xem")
    assert mine["label"] == "xem's script" and mine["revoked_at"] is None and mine["expires_at"] is not None
    assert viewer not in str(tokens)
    assert client.post(f"/api/v1/tokens/{mine['token_id']}/revoke", headers=admin).status_code == 200
    assert client.get("/api/v1/me", headers=_auth(viewer)).status_code == 401
    assert client.post("/api/v1/tokens/999999/revoke", headers=admin).status_code == 404
    assert client.post("/api/v1/users/nobody/disable", headers=admin).status_code == 404
    refused = client.post("/api/v1/users/tinh/disable", headers=admin)
    assert refused.status_code == 409 and "your own account" in refused.json()["detail"]
    assert client.get("/api/v1/me", headers=admin).status_code == 200


@pytest.mark.parametrize("role", ["viewer", "district", "commune"])
def test_no_one_but_an_admin_sees_or_takes_access(client: TestClient, conn: psycopg.Connection, role: str) -> None:
    scope = {"commune": ["15880"], "district": []}.get(role, [])
    if role == "district":
        accounts.create_operator(
            conn,
            username="huyen",
            role="district",
            unit_set="2025-01",
            unit_codes=[],
            district_code="398",
            password=None,
        )
        token = accounts.create_api_token(conn, username="huyen")
    else:
        token = _token(conn, "someone", role, scope)
    _token(conn, "other", "viewer")
    for method, path in [
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/users/other/disable"),
        ("POST", "/api/v1/users/other/enable"),
        ("POST", "/api/v1/tokens/1/revoke"),
    ]:
        assert client.request(method, path, headers=_auth(token)).status_code == 403, (role, method, path)
    assert conn.execute("SELECT disabled_at FROM operators WHERE username = 'other'").fetchone()["disabled_at"] is None
