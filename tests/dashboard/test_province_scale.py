"""The province overview at the province's size (issue 18: "166 units and 150,000 cameras"), desktop and phone:
every unit's tile in its former district's group, the camera KPI equal to the API's total, a search, no
horizontal overflow on a phone, no console error. No timing is asserted (bench/province_views.py measures it).

The cameras are seeded by SQL, not beaten through the gateway — 150,000 heartbeats through Kafka would take minutes
and tell the page nothing more: registered in set 2025 over its 166 units (in proportion to a fixed weight), each
with its last heartbeat in `camera_status` (1 % silent for two hours, so down now) and one gateway whose watermark is
fresh; one stored interval per camera, up from local midnight to that heartbeat (no month of intervals: the
page draws the same whatever the volume behind its figures)."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr

from services.core import accounts, camera_state
from services.core.units import list_units
from tests.dashboard.conftest import DESKTOP, PASSWORD, PHONE, District, T, log_in, shot
from tests.dashboard.test_pages import wider_than_screen
from tests.e2e.harness import Clock, start_stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]
CAMERAS = 150_000
UNITS = 166


def camera_counts(codes: list[str], total: int) -> list[int]:
    """`total` cameras over the units in proportion to a fixed weight 1–5 per unit (largest remainder), as the
    benchmark spreads them."""
    weights = [1 + (i * 7919) % 5 for i in range(len(codes))]
    shares = [total * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    for i in sorted(range(len(codes)), key=lambda i: shares[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return counts


@pytest.fixture
async def province(settings, conn, tmp_path) -> AsyncIterator[District]:
    stack = await start_stack(
        settings, conn, tmp_path, Clock(T), ingest=False, pseudonym_key=SecretStr("dashboard-test-pseudonym-key-0123")
    )
    try:
        codes = [u["code"] for u in list_units(conn, "2025")]
        assert len(codes) == UNITS
        accounts.create_operator(
            conn, username="admin", role="admin", unit_set="2024", unit_codes=[], password=PASSWORD
        )
        token = stack.gateway("gw-province", *codes, unit_set="2025")
        conn.execute("UPDATE gateways SET watermark = %s", (T - timedelta(seconds=10),))
        conn.execute(
            "INSERT INTO cameras (camera_id, unit_set, unit_code, name, interval_s, gateway_id)"
            " SELECT format('P-%%s-%%s', u.code, lpad(n::text, 5, '0')), '2025', u.code, 'Camera ' || n, 60,"
            "        (SELECT gateway_id FROM gateways)"
            " FROM unnest(%s::text[], %s::int[]) AS u(code, cameras), generate_series(1, u.cameras) AS n",
            (codes, camera_counts(codes, CAMERAS)),
        )
        conn.execute(
            "INSERT INTO camera_status (camera_id, first_ts, last_ts, last_status, last_state)"
            " SELECT camera_id, %(t)s - interval '30 days',"
            "        CASE WHEN hashtext(camera_id) %% 100 = 0 THEN %(t)s - interval '2 hours'"
            "             ELSE %(t)s - interval '30 seconds' END, 'ok', 'up'"
            " FROM cameras",
            {"t": T},
        )
        # Today up to the last heartbeat, as the rollup would have stored it: the tiles show a real day's figure.
        conn.execute(
            "INSERT INTO camera_intervals (camera_id, start_ts, end_ts, state)"
            " SELECT camera_id, %s, last_ts, 'up' FROM camera_status",
            (camera_state.local_day_start(T, settings.tz),),
        )
        conn.execute("ANALYZE cameras, camera_status, camera_intervals")
        yield District(stack, token, {}, codes)
    finally:
        await stack.close()


def folded(text: str) -> str:
    """As the page folds a search (unitlist.js `fold`): no diacritics, đ → d, lower case."""
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return bare.replace("đ", "d").replace("Đ", "D").lower()


async def province_overview(province: District, browser: Browser, viewport: dict) -> Page:
    page = await province.page(browser, viewport)
    await log_in(page)
    await page.select_option("#unit-set", "2025")
    await expect(page.locator(".tile")).to_have_count(UNITS, timeout=60_000)
    return page


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_the_province_overview_shows_166_units_and_150000_cameras(
    province: District, browser: Browser, size: str
) -> None:
    api = await province.stack.api("/api/v1/units", unit_set="2025")
    assert api["summary"]["cameras_total"] == CAMERAS
    assert sum(u["cameras_total"] for u in api["items"]) == CAMERAS and len(api["items"]) == UNITS
    page = await province_overview(province, browser, DESKTOP if size == "desktop" else PHONE)
    await expect(page.locator(".kpi-label").first).to_have_text("Tổng số camera")
    await expect(page.locator(".kpi-value").first).to_have_text("150.000")
    # Every tile in its former district's group, every group with the API's units.
    expected = Counter(u["former_district_name"] or "Chưa xác định huyện cũ" for u in api["items"])
    shown = await page.locator("details.group").evaluate_all(
        "gs => gs.map(g => [g.querySelector('.group-name').textContent, g.querySelectorAll('.tile').length])"
    )
    assert Counter(dict(shown)) == expected and len(shown) == len(expected)
    former = {u["unit_code"]: u["former_district_name"] or "Chưa xác định huyện cũ" for u in api["items"]}
    placed = await page.locator("details.group .tile").evaluate_all(
        "ts => ts.map(t => [t.dataset.unit, t.closest('details').querySelector('.group-name').textContent])"
    )
    assert dict(placed) == former
    await shot(page, f"province-scale-{size}")
    if size == "phone":
        assert not await wider_than_screen(page)
    # A search typed without diacritics finds a unit whose name is unique.
    names = Counter(folded(u["unit_name"]) for u in api["items"])
    target = next(
        u
        for u in api["items"]
        if names[folded(u["unit_name"])] == 1 and sum(folded(u["unit_name"]) in n for n in names) == 1
    )
    await page.fill("#unit-q", folded(target["unit_name"]))
    await expect(page.locator(".tile:visible")).to_have_count(1)
    await expect(page.locator(".tile:visible")).to_have_attribute("data-unit", target["unit_code"])
    await expect(page.locator("#unit-count")).to_have_text("1/166 đơn vị khớp")
    if size == "phone":
        assert not await wider_than_screen(page)
    assert province.console_errors() == []
