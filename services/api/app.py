"""The query API (`pulse api`, SPEC §10): JSON under /api/v1, health and metrics, and the dashboard at `/`.
Every API route depends on `services.api.deps` for auth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from services.api import cameras, devices, engagement, incidents, me, reports, session, units, uptime, web
from services.api.reads import Reads
from services.core.db import pool
from services.core.http import CredentialFailures, health_router
from services.core.settings import Settings


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = _utc_now) -> FastAPI:
    db_pool = pool(settings, name="api")
    read_url = settings.database_read_url
    # checked at each checkout: a replica that went away is noticed by the request that meets it (then the primary)
    read_pool = pool(settings, name="api-read", url=read_url, check=True) if read_url else None
    reads = Reads(db_pool, read_pool, settings.read_replica_max_lag_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(db_pool.open)
        stop, watch = asyncio.Event(), None
        if read_pool is not None:
            read_pool.open(wait=False)  # the replica may be down: the API starts anyway and reads the primary
            watch = asyncio.create_task(reads.watch(stop))
        try:
            yield
        finally:
            stop.set()
            if watch is not None:
                await watch
            if read_pool is not None:
                await run_in_threadpool(read_pool.close)
            await run_in_threadpool(db_pool.close)

    async def database_ready() -> bool:
        def check() -> bool:
            try:
                with db_pool.connection(timeout=2) as conn:
                    conn.execute("SELECT 1")
                return True
            except Exception:
                return False

        return await run_in_threadpool(check)

    app = FastAPI(title="commune-pulse API", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.pool = db_pool
    app.state.reads = reads
    app.state.clock = clock
    app.state.login_failures = CredentialFailures(settings.login_failures_per_15min)
    app.state.token_failures = CredentialFailures(settings.token_failures_per_15min)
    app.include_router(health_router({"database": database_ready}))
    app.include_router(session.router)
    app.include_router(me.router)
    app.include_router(units.router)
    app.include_router(uptime.router)
    app.include_router(cameras.router)
    app.include_router(devices.router)
    app.include_router(engagement.router)
    app.include_router(incidents.router)
    app.include_router(reports.router)
    web.mount(app, settings.web_dir or web.DEFAULT_WEB_DIR)
    return app
