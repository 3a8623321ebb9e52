"""The live stream (`GET /api/v1/live/events`, services/api/push.py) leaves nothing behind when a page goes away:
an operator closing a tab while the stream waits for the next change must not leave waiting tasks in the API's
event loop (they would pile up over a day of tabs opened and closed)."""

import asyncio

import httpx
import psycopg
import pytest

from services.api.app import create_app
from services.core import accounts, serve
from services.core.settings import Settings
from tests.e2e.harness import free_port, until

pytestmark = pytest.mark.db


def waiting_on_the_stream() -> list[asyncio.Task]:
    """Tasks waiting for a stream's next change or for the API to stop."""
    names = ("Queue.get", "Event.wait")
    return [t for t in asyncio.all_tasks() if not t.done() and t.get_coro().__qualname__ in names]  # type: ignore[union-attr]


async def test_a_closed_page_leaves_no_waiter(settings: Settings, conn: psycopg.Connection) -> None:
    accounts.create_operator(conn, username="duty", role="admin", unit_set="2024", unit_codes=[], password=None)
    headers = {"Authorization": f"Bearer {accounts.create_api_token(conn, username='duty')}"}
    port = free_port()
    app = create_app(settings)
    server = serve.server(app, "127.0.0.1", port, "warning")
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started, what="the API started")
        before = len(waiting_on_the_stream())
        for _ in range(3):  # three tabs opened, each closed while its stream waits
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
                async with client.stream("GET", "/api/v1/live/events", params={"unit_set": "2024"}) as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("event: hello"):
                            break
            await until(lambda: not app.state.broadcast.streams, what="the stream ended on the server")
        await until(lambda: len(waiting_on_the_stream()) <= before, what="no waiter left behind")
    finally:
        server.should_exit = True
        await task
