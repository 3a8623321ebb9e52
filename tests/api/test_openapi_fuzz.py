"""Hostile input from the OpenAPI documents (schemathesis, issue 10): for every operation of the query API, the
camera gateway and the app-events collector, requests generated from (and around) the schema — wrong types, huge
numbers, odd strings — never make a server error. Each service runs on the real database (and broker); the API is
called with an admin's token so requests reach the handlers instead of stopping at authentication."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from bench.procs import Components, free_port, isolate
from services.api.app import create_app as api_app
from services.core import accounts

pytestmark = [pytest.mark.db, pytest.mark.kafka]
FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture
def api_schema(settings, conn) -> Iterator[schemathesis.Schema]:
    accounts.create_operator(conn, username="fuzz", role="admin", unit_set="2024", unit_codes=[], password=None)
    token = accounts.create_api_token(conn, username="fuzz")
    app = api_app(settings)
    with TestClient(app):  # runs the lifespan: the database pool is open while schemathesis calls the app
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        schema.config.update(headers={"Authorization": f"Bearer {token}"})
        yield schema


@pytest.fixture
def running(settings, tmp_path) -> Iterator[Components]:
    """The gateway and the collector as `pulse` subprocesses (they hold loop-bound Kafka clients, so they are
    called over real HTTP rather than in-process)."""
    tuned = isolate(settings, tmp_path).model_copy(update={"app_events_port": free_port()})
    components = Components(tuned)
    components.extra_env = {
        "PULSE_APP_EVENTS_PORT": str(tuned.app_events_port),
        "PULSE_PSEUDONYM_KEY": "fuzz-pseudonym-key-0123456789",
    }
    try:
        yield components
    finally:
        components.stop_all()


def test_the_gateway_never_fails_on_generated_input(conn, running: Components) -> None:
    token = accounts.create_gateway(conn, name="fuzz", unit_set="2024", unit_codes=["15865"])
    url = f"http://127.0.0.1:{running.settings.gateway_port}"
    running.pulse("camera-gateway")
    running.wait_ok("camera-gateway", f"{url}/readyz")
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    schema.config.update(base_url=url, headers={"Authorization": f"Bearer {token}"})
    statuses = fuzz(schema)
    assert statuses[202] > 0 and any(400 <= code < 500 for code in statuses), statuses


def test_the_collector_never_fails_on_generated_input(conn, running: Components) -> None:
    key = accounts.create_app(conn, name="fuzz")
    url = f"http://127.0.0.1:{running.settings.app_events_port}"
    running.pulse("app-events")
    running.wait_ok("app-events", f"{url}/readyz")
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    schema.config.update(base_url=url, headers={"X-App-Key": key})
    statuses = fuzz(schema)
    assert any(code < 300 for code in statuses) and any(400 <= code < 500 for code in statuses), statuses


def fuzz(schema: schemathesis.Schema) -> Counter[int]:
    """Every operation of the schema with generated cases; returns the statuses seen (so a test can show the
    requests went past authentication into the handlers)."""
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def no_server_error(case) -> None:
            response = case.call_and_validate(checks=[not_a_server_error])
            statuses[response.status_code] += 1

        no_server_error()
    return statuses


def test_the_api_never_fails_on_generated_input(api_schema) -> None:
    statuses = fuzz(api_schema)
    assert statuses[200] > 50 and statuses[422] > 20 and sum(statuses.values()) > 250, statuses
