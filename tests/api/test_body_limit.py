"""The API refuses a request body over 64 KiB with 413 before reading it — the unauthenticated log-in included, and
a chunked body that says no length (issue 31) — and still takes an ordinary one."""

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import MAX_BODY, create_app
from services.core import accounts
from services.core.settings import Settings

pytestmark = pytest.mark.db


def test_a_body_over_the_limit_is_refused(settings: Settings, conn: psycopg.Connection) -> None:
    accounts.create_operator(
        conn, username="duty", role="admin", unit_set="2024", unit_codes=[], password="a long enough passphrase"
    )
    login = {"username": "duty", "password": "a long enough passphrase"}
    padded = b'{"username": "duty", "password": "x", "pad": "' + b"x" * MAX_BODY + b'"}'
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/v1/session", content=padded, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["detail"] == f"body: over {MAX_BODY} bytes"

        def chunks():  # no Content-Length: counted as it comes
            yield padded[: MAX_BODY // 2]
            yield padded[MAX_BODY // 2 :]

        r = client.post("/api/v1/session", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert client.post("/api/v1/session", json=login).status_code == 200
