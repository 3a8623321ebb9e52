"""Browser tests of the dashboard (SPEC §10): Playwright drives Debian's Chromium (never a browser Playwright
downloads) against a running stack — gateway, Kafka, ingest, TimescaleDB, alerts and the API on the test's
clock — holding a small district: every commune of Hoằng Hóa with two cameras beating through the gateway.

Screenshots of every page at desktop and phone size go to `artifacts/screenshots/` (git-ignored; CI keeps them).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from pydantic import SecretStr

from services.core import accounts, sealing
from services.core.cameras import CameraRow, import_cameras
from services.core.devices import add_device
from tests.e2e.harness import Clock, Stack, start_stack, until

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
PASSWORD = "Mật-khẩu-thử-nghiệm-2026"
COMMUNE_UNIT = "15871"  # Hoằng Giang
# One camera has a video stream (its URL holds a password the page must never show) and a prober picture.
STREAM_CAMERA = "HH-15865-002"
STREAM_PASSWORD = "Bi-mat-123"
# 10:00 in Hoằng Hóa: mid-morning, the first day of a month is not involved.
T = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
# Citizens using the app: (commune, citizens, feedback reports). Bút Sơn leads the ranking.
CITIZENS = (("15865", 3, 1), ("15871", 2, 0), ("15877", 1, 0))


@dataclass
class District:
    stack: Stack
    gateway_token: str
    cameras: dict[str, list[str]]  # unit code -> its cameras
    units: list[str]
    consoles: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)  # closed after the test, before its servers

    @property
    def all_cameras(self) -> list[str]:
        return [c for ids in self.cameras.values() for c in ids]

    async def beat(self, cameras: list[str]) -> None:
        now = self.stack.clock.now.isoformat()
        for i in range(0, len(cameras), 500):
            items = [{"camera_id": c, "ts": now} for c in cameras[i : i + 500]]
            response = await self.stack.push(self.gateway_token, items)
            assert response.json()["accepted"] == len(items), response.text

    async def minutes(self, n: int, *, silent: frozenset[str] = frozenset()) -> None:
        """Move the clock a minute at a time; every camera but the silent ones beats each minute."""
        for _ in range(n):
            self.stack.clock.advance(60)
            await self.beat([c for c in self.all_cameras if c not in silent])
            await until(self.caught_up, what="ingest caught up")

    def caught_up(self) -> bool:
        row = self.stack.db().execute("SELECT min(watermark) AS w FROM gateways").fetchone()
        return (
            row["w"] is not None
            and row["w"] >= self.stack.clock.now
            and not self.stack.count("SELECT count(*) AS n FROM camera_dirty")
        )

    async def page(
        self, browser: Browser, viewport: dict, *, bypass_csp: bool = False, unit_set: str | None = "2024"
    ) -> Page:
        """A new browser (its own storage) on the dashboard. It opens on the unit set in force today (2025 on the
        test's clock) unless a choice is saved: with `unit_set` this browser has saved that one, as an operator who
        switched to it once — most tests here are about the district's 37 communes of 2024."""
        context: BrowserContext = await browser.new_context(viewport=viewport, bypass_csp=bypass_csp, locale="vi-VN")
        self.contexts.append(context)
        if unit_set is not None:
            await context.add_init_script(
                f"if (!localStorage.getItem('pulse.unitSet')) localStorage.setItem('pulse.unitSet', '{unit_set}');"
            )
        page = await context.new_page()
        # Every console error is kept (the test checks there are none, bar the 401 of the first /me before log-in).
        page.on("console", lambda m: self.consoles.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.consoles.append(f"page error: {e}"))
        await page.goto(f"{self.stack.api_url}/")
        return page

    def console_errors(self) -> list[str]:
        return [m for m in self.consoles if "401 (Unauthorized)" not in m]


async def make_district(stack: Stack, per_unit: int) -> District:
    conn = stack.conn
    units = [r["code"] for r in conn.execute("SELECT code FROM units WHERE unit_set = '2024' ORDER BY code")]
    for username, role, held in (("admin", "admin", []), ("xa.hoang.giang", "commune", [COMMUNE_UNIT])):
        accounts.create_operator(
            conn, username=username, role=role, unit_set="2024", unit_codes=held, password=PASSWORD
        )
    token = stack.gateway("gw-district", *units)
    cameras = {u: [f"HH-{u}-{i:03d}" for i in range(1, per_unit + 1)] for u in units}
    stream = f"rtsp://admin:{STREAM_PASSWORD}@10.1.2.3:554/stream1"
    rows = [
        CameraRow(c, u, f"Camera {u} số {i + 1}", 60, stream if c == STREAM_CAMERA else None, None, None)
        for u, ids in cameras.items()
        for i, c in enumerate(ids)
    ]
    import_cameras(conn, rows, unit_set="2024", keys=sealing.keyring(stack.settings))
    picture = cv2.imencode(".jpg", np.full((180, 320, 3), (40, 120, 200), np.uint8))[1].tobytes()
    conn.execute(
        "INSERT INTO camera_snapshots (camera_id, kind, jpeg, taken_at) VALUES (%s, 'thumbnail', %s, %s)",
        (STREAM_CAMERA, picture, T),
    )
    add_devices(stack)
    await stack.gateway_reload()
    district = District(stack, token, cameras, units)
    await district.beat(district.all_cameras)
    await until(district.caught_up, what="first heartbeats stored")
    await use_the_app(stack)
    return district


DEVICE_STATES = {
    "BS-NVR1": ("connected", ""),
    "BS-DH1": ("auth_failed", "eventManager: the device refused the user name or password (HTTP 401)"),
}


def add_devices(stack: Stack) -> None:
    """Two devices of Bút Sơn in the states a collector would have written (no collector runs here)."""
    keyed = stack.settings.model_copy(update={"device_key": SecretStr("dashboard-test-device-key-0123456789")})
    for name, kind in (("BS-NVR1", "hikvision"), ("BS-DH1", "dahua")):
        add_device(
            stack.conn,
            keyed,
            kind=kind,
            name=name,
            unit_set="2024",
            unit_code="15865",
            url="http://192.168.1.64",
            username="admin",
            secret="Mat-khau-thiet-bi",
            channels={"1": f"{name}-CAM1", "2": f"{name}-CAM2"} if kind == "hikvision" else {},
        )
        state, error = DEVICE_STATES[name]
        stack.conn.execute(
            "UPDATE devices SET state = %s, last_error = %s, state_since = %s WHERE name = %s", (state, error, T, name)
        )


async def use_the_app(stack: Stack) -> None:
    """Each citizen opens the app yesterday and today, through the collector; some send a report."""
    expected = 0
    for unit, citizens, reports in CITIZENS:
        for n in range(citizens):
            events = [
                {
                    "event_id": str(uuid.uuid4()),
                    "event": "app_open",
                    "created_at": (T - timedelta(days=d)).isoformat(),
                    "unit_code": unit,
                    "user_id": f"citizen-{unit}-{n}",
                    "properties": {},
                }
                for d in (0, 1)
            ]
            if n < reports:
                events.append(
                    {
                        "event_id": str(uuid.uuid4()),
                        "event": "feedback_submitted",
                        "created_at": T.isoformat(),
                        "unit_code": unit,
                        "user_id": f"citizen-{unit}-{n}",
                        "properties": {"category": "security"},
                    }
                )
            body = {
                "sent_at": T.isoformat(),
                "context": {"install_id": str(uuid.uuid4()), "platform": "android", "app_version": "2.3.1"},
                "events": events,
            }
            assert (await stack.send_events(body)).json()["accepted"] == len(events)
            expected += len(events)
    await until(lambda: stack.count("SELECT count(*) AS n FROM app_events") == expected, what="app events stored")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def district(settings, conn, tmp_path) -> AsyncIterator[District]:
    stack = await start_stack(
        settings,
        conn,
        tmp_path,
        Clock(T),
        alert_group_wait_s=0,
        alert_tick_s=0.2,
        pseudonym_key=SecretStr("dashboard-test-pseudonym-key-0123"),
    )
    district = None
    try:
        district = await make_district(stack, per_unit=2)
        yield district
    finally:
        for context in district.contexts if district else []:
            await context.close()  # its pages stop refreshing against servers about to go
        await stack.close()


async def log_in(page: Page, username: str = "admin") -> None:
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector(".tile")


async def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path
