import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.e2e.harness import Clock, Stack, start_stack, until
from tests.e2e.receivers import Receivers

# 2024-03-31 23:00 in Hoằng Hóa (UTC+7): an hour before the end of March, local time.
T = datetime(2024, 3, 31, 16, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(T)


@pytest.fixture
async def stack(settings, conn, tmp_path, clock) -> AsyncIterator[Stack]:
    s = await start_stack(settings, conn, tmp_path, clock)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def receivers() -> AsyncIterator[Receivers]:
    r = Receivers()
    task = asyncio.create_task(r.server.serve())
    await until(lambda: r.server.started, what="receivers started")
    r.smtp.start()
    try:
        yield r
    finally:
        r.smtp.stop()
        r.server.should_exit = True
        await task
