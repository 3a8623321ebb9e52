"""The operators' dashboard (SPEC §10) as files: `/` is one HTML page whose script (ES modules under `/static/`,
no build step) reads the JSON API with the session cookie. Chart.js comes from npm (`make setup` runs `npm ci`
in `dashboards/web/`) and is served from its package folder under `/vendor/chart.js/`, so nothing is fetched
from the internet at run time and no third-party code is kept in the repository."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import dashboards

log = logging.getLogger(__name__)
DEFAULT_WEB_DIR = Path(dashboards.__file__).parent / "web"
# Scripts, styles and images only from this server; no inline script or style; never framed.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def mount(app: FastAPI, web_dir: Path) -> None:
    static = web_dir / "static"
    chart_js = web_dir / "node_modules" / "chart.js" / "dist"
    if not (chart_js / "chart.umd.min.js").is_file():
        log.error("dashboard charts unavailable: %s missing; run `make setup` (npm ci in dashboards/web)", chart_js)
    else:
        app.mount("/vendor/chart.js", StaticFiles(directory=chart_js), name="chart.js")
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
