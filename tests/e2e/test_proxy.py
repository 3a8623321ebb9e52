"""The TLS proxy that docker-compose puts in front of the HTTP components (deploy/caddy/Caddyfile, issue 31), run
with Debian's Caddy against the components of a stack, its sites on ports of their own and Caddy's own CA (as a
LAN deployment under `.localhost` names gets): the dashboard over HTTPS carries HSTS and a `Secure` session cookie
(the API trusts the proxy's X-Forwarded-Proto), live updates stream through it, heartbeats and app events go
through it, and no component's /metrics is published."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from services.core import accounts
from tests.e2e.harness import Stack, free_port, start_stack, until
from tests.e2e.test_engagement import envelope, event

pytestmark = [pytest.mark.db, pytest.mark.kafka]
CADDYFILE = Path(__file__).resolve().parents[2] / "deploy" / "caddy" / "Caddyfile"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"  # Debian's package (make setup installs it)
PASSWORD = "Mật khẩu qua proxy 2026"


@pytest.fixture
async def proxied(settings, conn, tmp_path, clock) -> AsyncIterator[tuple[Stack, dict[str, str], Path]]:
    ports = {site: free_port() for site in ("api", "gateway", "events", "grafana", "http")}
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        clock,
        public_url=f"https://localhost:{ports['api']}",
        pseudonym_key=SecretStr("proxy-test-pseudonym-key-0123456789"),
    )
    home = tmp_path / "caddy"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "PULSE_PROXY_ADMIN": "off",
        "PULSE_SITE": f"localhost:{ports['api']}",
        "PULSE_GATEWAY_SITE": f"localhost:{ports['gateway']}",
        "PULSE_EVENTS_SITE": f"localhost:{ports['events']}",
        "PULSE_GRAFANA_SITE": f"localhost:{ports['grafana']}",
        "PULSE_PROXY_HTTP_PORT": str(ports["http"]),
        "PULSE_API_UPSTREAM": stack.api_url.removeprefix("http://"),
        "PULSE_GATEWAY_UPSTREAM": stack.gateway_url.removeprefix("http://"),
        "PULSE_EVENTS_UPSTREAM": stack.collector_url.removeprefix("http://"),
    }
    log = (tmp_path / "caddy.log").open("w")
    caddy = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited: it runs beside the test
        [CADDY, "run", "--adapter", "caddyfile", "--config", str(CADDYFILE)], env=env, stdout=log, stderr=log
    )
    root = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    try:
        await until(lambda: root.exists() or caddy.poll() is not None, what="Caddy's own CA made")
        assert caddy.poll() is None, (tmp_path / "caddy.log").read_text()[-2000:]
        sites = {site: f"https://localhost:{port}" for site, port in ports.items() if site != "http"}
        yield stack, sites, root
    finally:
        caddy.terminate()
        caddy.wait(timeout=10)
        log.close()
        await stack.close()


async def test_the_proxy_serves_every_component_over_tls_and_publishes_no_metrics(proxied) -> None:
    stack, sites, root = proxied
    accounts.create_operator(
        stack.conn, username="tinh", role="admin", unit_set="2024", unit_codes=[], password=PASSWORD
    )
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(root)), timeout=10) as https:
        # Caddy gets its certificate for the site a moment after it starts.
        await until(lambda: answers(https, f"{sites['api']}/healthz"), what="the dashboard through the proxy")
        login = await https.post(f"{sites['api']}/api/v1/session", json={"username": "tinh", "password": PASSWORD})
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert login.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        units = await https.get(f"{sites['api']}/api/v1/units", params={"unit_set": "2024"})
        assert units.status_code == 200 and len(units.json()["items"]) == 37

        # Live updates are a stream: its first event comes through at once, not when the stream ends.
        async with https.stream("GET", f"{sites['api']}/api/v1/live/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            first = await asyncio.wait_for(anext(events.aiter_lines()), timeout=10)
            assert first.startswith("retry:") or first.startswith("event:")

        token = stack.gateway("gw-proxy", "15865")
        beat = {"camera_id": "proxy-1", "ts": stack.clock.now.isoformat()}
        pushed = await https.post(
            f"{sites['gateway']}/v1/heartbeats",
            json={"heartbeats": [beat]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert pushed.status_code == 202, pushed.text
        opened = event("app_open", stack.clock.now, "15865", "citizen-1")
        batch = envelope(str(uuid.uuid4()), stack.clock.now, [opened])
        sent = await https.post(f"{sites['events']}/v1/events", json=batch, headers={"X-App-Key": stack.app_key})
        assert sent.status_code == 200 and sent.json()["accepted"] == 1, sent.text
        await until(lambda: stack.count("SELECT count(*) AS n FROM heartbeats") == 1, what="the heartbeat stored")

        for site in ("api", "gateway", "events"):
            assert (await https.get(f"{sites[site]}/metrics")).status_code == 404, site
        assert (await stack.http.get(f"{stack.api_url}/metrics")).status_code == 200  # Prometheus's way in
    async with httpx.AsyncClient(timeout=10) as unverified:  # a client that does not trust Caddy's CA
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await unverified.get(f"{sites['api']}/healthz")


async def answers(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False
