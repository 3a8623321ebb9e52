"""Every role against every API route (issue 10: "a test that tries each role against every route"). Each route
is classified here; a new route without a classification fails the first test. Admin may do everything, a viewer
reads everything and changes nothing, a commune operator reads and acts only in its own commune (Hoằng Giang) and
never sees district-wide reports; figures of other communes are refused, not emptied silently."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core import accounts
from services.reports.issue import run_schedule

pytestmark = pytest.mark.db
OWN, OTHER = "15871", "15865"
OK, DENIED, HIDDEN = "ok", 403, 404
ALL = {"admin": OK, "viewer": OK, "commune": OK}
ADMIN = {"admin": OK, "viewer": DENIED, "commune": DENIED}
DISTRICT = {"admin": OK, "viewer": OK, "commune": DENIED}  # whole-district figures
OTHER_UNIT = DISTRICT  # another commune's figures: refused to the commune operator
WINDOW = {"from": "2026-11-01T00:00:00+07:00", "to": "2026-11-02T00:00:00+07:00"}


def cases(ids: dict[str, int]) -> list[tuple[str, str, str, dict, dict]]:
    """(method, route template, concrete path, request kwargs, expected per role)."""
    other_incident, own_incident, window = ids["other_incident"], ids["own_incident"], ids["window"]
    return [
        ("get", "/api/v1/me", "/api/v1/me", {}, ALL),
        ("get", "/api/v1/units", "/api/v1/units", {}, ALL),
        ("get", "/api/v1/units/{unit_set}/{code}", f"/api/v1/units/2024/{OTHER}", {}, OTHER_UNIT),
        ("get", "/api/v1/units/{unit_set}/{code}", f"/api/v1/units/2024/{OWN}", {}, ALL),
        (
            "put",
            "/api/v1/units/{unit_set}/{code}/population",
            f"/api/v1/units/2024/{OWN}/population",
            {"json": {"population": 9000}},
            ADMIN,
        ),
        ("get", "/api/v1/uptime", "/api/v1/uptime", {"params": WINDOW}, ALL),
        ("get", "/api/v1/uptime/series", "/api/v1/uptime/series", {"params": {"unit": OTHER}}, OTHER_UNIT),
        ("get", "/api/v1/uptime/series", "/api/v1/uptime/series", {"params": {"unit": OWN}}, ALL),
        ("get", "/api/v1/cameras", "/api/v1/cameras", {}, ALL),
        ("get", "/api/v1/cameras", "/api/v1/cameras", {"params": {"unit": OTHER}}, OTHER_UNIT),
        ("get", "/api/v1/cameras/{camera_id}", "/api/v1/cameras/c-other", {}, OTHER_UNIT),
        ("get", "/api/v1/devices", "/api/v1/devices", {}, ALL),
        ("get", "/api/v1/devices", "/api/v1/devices", {"params": {"unit": OTHER}}, OTHER_UNIT),
        ("get", "/api/v1/devices", "/api/v1/devices", {"params": {"unit": OWN}}, ALL),
        ("get", "/api/v1/cameras/{camera_id}", "/api/v1/cameras/c-own", {}, ALL),
        ("get", "/api/v1/cameras/{camera_id}/snapshot", "/api/v1/cameras/c-other/snapshot", {}, OTHER_UNIT),
        ("get", "/api/v1/cameras/{camera_id}/snapshot", "/api/v1/cameras/c-own/snapshot", {}, ALL),
        ("post", "/api/v1/cameras/{camera_id}/reference/reset", "/api/v1/cameras/c-other/reference/reset", {}, ADMIN),
        (
            "post",
            "/api/v1/cameras/{camera_id}/reference/reset",
            "/api/v1/cameras/c-own/reference/reset",
            {},
            {"admin": OK, "viewer": DENIED, "commune": OK},
        ),
        ("get", "/api/v1/engagement", "/api/v1/engagement", {}, ALL),
        ("get", "/api/v1/engagement/daily", "/api/v1/engagement/daily", {}, DISTRICT),
        ("get", "/api/v1/engagement/daily", "/api/v1/engagement/daily", {"params": {"unit": OWN}}, ALL),
        ("get", "/api/v1/engagement/features", "/api/v1/engagement/features", {}, DISTRICT),
        ("get", "/api/v1/engagement/retention", "/api/v1/engagement/retention", {"params": {"unit": OWN}}, ALL),
        ("get", "/api/v1/incidents", "/api/v1/incidents", {}, ALL),
        (
            "post",
            "/api/v1/incidents/{incident_id}/ack",
            f"/api/v1/incidents/{other_incident}/ack",
            {"json": {}},
            {"admin": OK, "viewer": DENIED, "commune": HIDDEN},
        ),
        (
            "post",
            "/api/v1/incidents/{incident_id}/ack",
            f"/api/v1/incidents/{own_incident}/ack",
            {"json": {}},
            {"admin": OK, "viewer": DENIED, "commune": OK},
        ),
        ("get", "/api/v1/maintenance", "/api/v1/maintenance", {}, ALL),
        (
            "post",
            "/api/v1/maintenance",
            "/api/v1/maintenance",
            {"json": {"unit_code": OWN, "starts_at": WINDOW["from"], "ends_at": WINDOW["to"]}},
            ADMIN,
        ),
        ("delete", "/api/v1/maintenance/{window_id}", f"/api/v1/maintenance/{window}", {}, ADMIN),
        ("get", "/api/v1/reports/monthly", "/api/v1/reports/monthly", {"params": {"format": "csv"}}, DISTRICT),
        ("get", "/api/v1/reports", "/api/v1/reports", {}, DISTRICT),
        (
            "get",
            "/api/v1/reports/{report_id}",
            f"/api/v1/reports/{ids['report']}",
            {"params": {"format": "csv"}},
            DISTRICT,
        ),
        ("delete", "/api/v1/session", "/api/v1/session", {}, ALL),
    ]


@pytest.fixture
def world(settings, conn: psycopg.Connection) -> Iterator[tuple[TestClient, dict[str, dict], dict[str, int]]]:
    tokens = {}
    for role, held in (("admin", []), ("viewer", []), ("commune", [OWN])):
        accounts.create_operator(conn, username=role, role=role, unit_set="2024", unit_codes=held, password=None)
        tokens[role] = {"Authorization": f"Bearer {accounts.create_api_token(conn, username=role)}"}
    for camera, unit in (("c-own", OWN), ("c-other", OTHER)):
        conn.execute(
            "INSERT INTO cameras (camera_id, unit_set, unit_code, name, interval_s) VALUES (%s, '2024', %s, %s, 60)",
            (camera, unit, camera),
        )
        conn.execute(
            "INSERT INTO camera_snapshots (camera_id, kind, jpeg, taken_at) VALUES (%s, 'thumbnail', %s, now())",
            (camera, b"\xff\xd8\xff\xd9"),
        )
    ids = {}
    for key, unit in (("other_incident", OTHER), ("own_incident", OWN)):
        ids[key] = conn.execute(
            "INSERT INTO incidents (kind, unit_set, unit_code, camera_ids, opened_at)"
            " VALUES ('camera_down', '2024', %s, ARRAY[%s], now()) RETURNING incident_id",
            (unit, f"cam-{unit}"),
        ).fetchone()["incident_id"]
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    ids["report"] = run_schedule(conn, settings, now)
    with TestClient(create_app(settings, clock=lambda: now)) as client:
        ids["window"] = client.post(
            "/api/v1/maintenance",
            json={"unit_code": OWN, "starts_at": WINDOW["from"], "ends_at": WINDOW["to"]},
            headers=tokens["admin"],
        ).json()["id"]
        yield client, tokens, ids


def test_every_api_route_is_classified(world) -> None:
    client, _, ids = world
    routes = {
        (method, path)
        for path, operations in client.get("/openapi.json").json()["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    covered = {(method, template) for method, template, *_ in cases(ids)} | {("post", "/api/v1/session")}
    assert routes == covered, f"classify these routes in this test: {sorted(routes - covered)}"


@pytest.mark.parametrize("role", ["viewer", "commune", "admin"])  # admin last: it deletes the window
def test_each_role_against_every_route(world, role: str) -> None:
    client, tokens, ids = world
    wrong = []
    for method, _template, path, kwargs, expected in cases(ids):
        response = client.request(method.upper(), path, headers=tokens[role], **kwargs)
        want = expected[role]
        ok = response.is_success if want == OK else response.status_code == want
        if not ok:
            wrong.append(
                f"{method.upper()} {path} as {role}: {response.status_code} (wanted {want}) {response.text[:120]}"
            )
    assert wrong == []
