"""A saturated API sheds load (issue 28): with more concurrent requests than its pool, every answer is 200 or 503
with Retry-After — never a 500 after the pool's timeout, as ten requests on a ten-connection pool used to get
(authentication held one connection while the route waited for a second) — and /healthz answers throughout.

The saturation is made, not hoped for: the test holds a lock on the registry counter (migration 0017) that every
request's authentication reads, so admitted requests wait in the database while more keep coming; then it lets
go."""

import asyncio

import httpx
import psycopg
import pytest

from services.api.app import create_app
from services.core import accounts, serve
from services.core.settings import Settings
from tests.e2e.harness import free_port, until

pytestmark = pytest.mark.db


async def test_more_requests_than_the_pool_get_200_or_503_never_500(
    settings: Settings, conn: psycopg.Connection
) -> None:
    accounts.create_operator(conn, username="duty", role="admin", unit_set="2024", unit_codes=[], password=None)
    headers = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='duty')}"}
    port = free_port()
    app = create_app(settings.model_copy(update={"api_db_pool": 2, "api_queue_wait_s": 0.5}))
    server = serve.server(app, "127.0.0.1", port, "warning")
    task = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        await until(lambda: server.started, what="the API started")
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
            unsaturated = await client.get("/api/v1/units")
            assert unsaturated.status_code == 200
            timing = dict(part.strip().split(";dur=") for part in unsaturated.headers["Server-Timing"].split(","))
            assert set(timing) == {"queue", "app"} and float(timing["app"]) > 0, timing
            metrics = (await client.get("/metrics")).text
            assert 'pulse_api_request_seconds_count{route="/api/v1/units"}' in metrics
            with psycopg.connect(settings.database_url) as holder:
                holder.execute("LOCK TABLE live_registry IN ACCESS EXCLUSIVE MODE")  # until this transaction ends
                reads = [
                    asyncio.create_task(client.get("/api/v1/units", params={"unit_set": s}))
                    for s in ["2024", "2025"] * 10
                ]
                health: list[int] = []

                async def healthz_until_some_are_shed() -> bool:
                    health.append((await client.get("/healthz", timeout=2)).status_code)
                    return any(t.done() for t in reads)

                await until(healthz_until_some_are_shed, timeout=10, what="requests shed while the pool is held")
                shed = [r for r in await asyncio.gather(*[t for t in reads if t.done()])]
                holder.rollback()  # let the admitted requests finish
            answers = await asyncio.gather(*reads)
            assert health and all(code == 200 for code in health)
            statuses = sorted({r.status_code for r in answers})
            assert statuses == [200, 503], statuses  # saturated (some shed) and served (the admitted ones)
            for r in answers:
                if r.status_code == 503:
                    assert int(r.headers["Retry-After"]) >= 1
                    assert "saturated" in r.json()["detail"]
            assert shed and all(r.status_code == 503 for r in shed)  # answered within the bound, while held
            metrics = (await client.get("/metrics")).text
            assert "pulse_api_requests_shed_total" in metrics
    finally:
        server.should_exit = True
        await task
