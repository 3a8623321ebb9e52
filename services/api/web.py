"""The operators' dashboard (SPEC §10) as files: `/` is one HTML page whose script (ES modules under `/static/`,
no build step) reads the JSON API with the session cookie. Chart.js comes from npm (`make setup` runs `npm ci`
in `dashboards/web/`) and is served from its package folder under `/vendor/chart.js/`, so nothing is fetched
from the internet at run time and no third-party code is kept in the repository."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
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


HSTS = "max-age=31536000; includeSubDomains"  # a year: browsers refuse plain HTTP to the dashboard's host


def with_preloads(html: str, static: Path) -> str:
    """The page with every module of the dashboard announced up front (`modulepreload`): the browser fetches them
    at once instead of discovering each import after the module above it arrived — a chain of round trips that,
    with a busy server, took a second before the first read (issue 28, measured in Chromium)."""
    links = "".join(
        f'  <link rel="modulepreload" href="/static/{module.name}">\n' for module in sorted(static.glob("*.js"))
    )
    return html.replace("</head>", f"{links}</head>", 1)


def mount(app: FastAPI, web_dir: Path) -> None:
    static = web_dir / "static"
    chart_js = web_dir / "node_modules" / "chart.js" / "dist"
    if not (chart_js / "chart.umd.min.js").is_file():
        log.error("dashboard charts unavailable: %s missing; run `make setup` (npm ci in dashboards/web)", chart_js)
    else:
        app.mount("/vendor/chart.js", StaticFiles(directory=chart_js), name="chart.js")
    app.mount("/static", StaticFiles(directory=static), name="static")

    page = with_preloads((static / "index.html").read_text(encoding="utf-8"), static)

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.scheme == "https":  # served over TLS (or behind a TLS proxy uvicorn trusts): stay on it
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
