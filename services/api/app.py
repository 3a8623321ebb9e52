"""The query API (`pulse api`, SPEC §10): JSON under /api/v1, health and metrics, and the dashboard at `/`.
Every API route depends on `services.api.deps` for auth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime

import anyio.to_thread
import psycopg
from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api import accounts as accounts_routes
from services.api import audit as audit_routes
from services.api import cameras, devices, engagement, incidents, me, push, reports, session, units, uptime, web
from services.api.admission import SHED, Admission, overloaded
from services.api.deps import actor_of
from services.api.live import LiveModel
from services.api.push import Broadcast
from services.api.reads import Reads
from services.core import audit
from services.core.db import DbConn, pool
from services.core.http import CredentialFailures, health_router
from services.core.http_body import BodyLimit
from services.core.settings import Settings

log = logging.getLogger("pulse.api")


def _utc_now() -> datetime:
    return datetime.now(UTC)


# The API's bodies are a log-in, a note, a window, a population: a few hundred bytes. Anything near this is not one.
MAX_BODY = 64 * 1024


def create_app(settings: Settings, *, clock: Callable[[], datetime] = _utc_now) -> FastAPI:
    # One connection per admitted request (services/api/admission.py), and one for the replica watch.
    size, wait = settings.api_db_pool, settings.api_queue_wait_s
    # (+2: the replica watch and the live updates' ticker)
    db_pool = pool(settings, name="api", url=settings.api_database_url, max_size=size + 2, timeout=wait)
    read_url = settings.database_read_url
    # checked at each checkout: a replica that went away is noticed by the request that meets it (then the primary)
    read_pool = (
        pool(settings, name="api-read", url=read_url, max_size=size + 2, check=True, timeout=wait) if read_url else None
    )
    reads = Reads(db_pool, read_pool, settings.read_replica_max_lag_s)
    live = LiveModel(figures_every_s=settings.live_figures_s)

    @contextmanager
    def read_connection() -> Iterator[DbConn]:
        with reads.connection() as (conn, _):
            yield conn

    broadcast = Broadcast(live, read_connection, clock, settings.gateway_silence_s, settings.live_tick_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the thread pool that runs the routes must not be what limits them (anyio's default is 40 threads)
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, size + 8)
        await run_in_threadpool(db_pool.open)
        stop, watch = asyncio.Event(), None
        if read_pool is not None:
            read_pool.open(wait=False)  # the replica may be down: the API starts anyway and reads the primary
            watch = asyncio.create_task(reads.watch(stop))
        pushing = asyncio.create_task(broadcast.run(stop))
        try:
            yield
        finally:
            stop.set()
            await pushing
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
    app.state.live = live
    app.state.broadcast = broadcast
    app.state.stopping = asyncio.Event()  # set by the server when its shutdown begins (services/core/serve.py)
    app.state.clock = clock
    app.state.token_failures = CredentialFailures(settings.token_failures_per_15min)
    app.add_middleware(Admission, limit=size, max_wait_s=wait)
    app.add_middleware(BodyLimit, limit=MAX_BODY)  # outermost: a large body is refused before it takes a turn

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == status.HTTP_403_FORBIDDEN:  # every refusal is in the audit trail (SPEC §12)
            await run_in_threadpool(record_refusal, request, exc.detail)
        return await http_exception_handler(request, exc)

    def record_refusal(request: Request, detail: str) -> None:
        actor = actor_of(request, getattr(request.state, "principal", None))
        try:
            with db_pool.connection() as conn:
                said = {"method": request.method, "path": request.url.path, "why": detail}
                audit.record(conn, actor, "refused", details=said)
        except psycopg.Error as exc:  # the refusal stands; the database's trouble shows everywhere else
            log.warning("could not record a refusal in the audit trail (%s)", exc.__class__.__name__)

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        # a backstop: admitted requests hold one connection each, so this means a connection leaked or hung
        SHED.inc()
        return overloaded(wait)

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
    app.include_router(push.router)
    app.include_router(audit_routes.router)
    app.include_router(accounts_routes.router)
    web.mount(app, settings.web_dir or web.DEFAULT_WEB_DIR)
    return app
