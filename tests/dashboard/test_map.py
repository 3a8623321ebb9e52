"""The map of units (issue 18) in a real browser: every unit of the 2025 set a point at its centroid, sized by its
cameras, its availability in colour, icon and words, a link down to its cameras; drawn without tiles, so no request
leaves the server; accessible and fitting a phone."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, expect

from tests.dashboard.conftest import DESKTOP, PHONE, District, log_in, shot
from tests.dashboard.test_pages import axe_violations, wider_than_screen

pytestmark = [pytest.mark.db, pytest.mark.kafka]

HOANG_HOA = "15865"  # the 2025 xã; Bút Sơn's cameras (2024, code 15865) are its cameras now
HOANG_HOA_FORMER_DISTRICT = "399"


def band_word(availability: float | None) -> str:
    if availability is None:
        return "Chưa có số liệu"
    return "Tốt" if availability >= 0.99 else "Cần chú ý" if availability >= 0.95 else "Kém"


async def open_map(
    district: District, browser: Browser, viewport: dict, *, bypass_csp: bool = False
) -> tuple[Page, list[str]]:
    page = await district.page(browser, viewport, bypass_csp=bypass_csp)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    await log_in(page)
    await page.select_option("#unit-set", "2025")
    await page.click('.main-nav a[href="#/map"]')
    await page.locator("svg.map a.map-point").first.wait_for()
    return page, requested


async def test_the_map_draws_every_unit_and_leads_down_to_a_communes_cameras(
    district: District, browser: Browser
) -> None:
    await district.minutes(3, silent=frozenset({district.cameras[HOANG_HOA][0]}))
    api = await district.stack.api("/api/v1/units", unit_set="2025")
    placed = [u for u in api["items"] if u["lat"] is not None]
    assert len(placed) == len(api["items"]) == 166
    page, requested = await open_map(district, browser, DESKTOP)
    assert await page.locator("h1").inner_text() == "Bản đồ đơn vị"
    await expect(page.locator("svg.map a.map-point")).to_have_count(166)
    assert not await page.locator("#unplaced").is_visible()

    unit = next(u for u in api["items"] if u["unit_code"] == HOANG_HOA)
    assert unit["cameras_down"] >= 1
    point = page.locator(f'a.map-point[data-unit="{HOANG_HOA}"]')
    assert await point.get_attribute("href") == f"#/unit/2025/{HOANG_HOA}"
    words = await point.get_attribute("aria-label")
    assert "Hoằng Hóa" in words and band_word(unit["availability_today"]) in words and "mất tín hiệu" in words
    assert await point.locator("title").text_content() == words
    assert await point.get_attribute("data-band") in {"good", "fair", "poor"}
    assert "map-has-down" in (await point.get_attribute("class") or "")
    # a point with more cameras is drawn larger than one without any
    empty = next(u["unit_code"] for u in api["items"] if u["cameras_total"] == 0)
    radius = lambda code: page.locator(f'a.map-point[data-unit="{code}"] circle').get_attribute("r")  # noqa: E731
    assert float(await radius(HOANG_HOA)) > float(await radius(empty))
    await shot(page, "map-desktop")

    # Drill down: the former district, then the xã (by keyboard), then its cameras.
    await page.select_option("#map-district", HOANG_HOA_FORMER_DISTRICT)
    await expect(page).to_have_url(f"{district.stack.api_url}/#/map/{HOANG_HOA_FORMER_DISTRICT}")
    await expect(page.locator("svg.map a.map-point")).to_have_count(8)
    await expect(page.locator("svg.map .map-name")).to_have_count(8)
    await shot(page, "map-district-desktop")
    await page.locator(f'a.map-point[data-unit="{HOANG_HOA}"]').focus()
    await expect(page.locator("#map-info")).to_contain_text(band_word(unit["availability_today"]))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{district.stack.api_url}/#/unit/2025/{HOANG_HOA}")
    await page.locator(f'tr[data-camera="{district.cameras[HOANG_HOA][0]}"]').wait_for()

    # Nothing but this server was asked for anything: no tiles, fonts or scripts from elsewhere.
    hosts = {urlsplit(u).netloc for u in requested if not u.startswith("data:")}
    assert hosts == {urlsplit(district.stack.api_url).netloc}, hosts
    assert urlsplit(district.stack.api_url).hostname == "127.0.0.1"
    assert district.console_errors() == []


async def test_the_map_fits_a_phone_and_passes_the_accessibility_rules(district: District, browser: Browser) -> None:
    page, _ = await open_map(district, browser, PHONE)
    await expect(page.locator("svg.map a.map-point")).to_have_count(166)
    assert not await wider_than_screen(page)
    await shot(page, "map-phone")
    await page.select_option("#map-district", HOANG_HOA_FORMER_DISTRICT)
    await expect(page.locator("svg.map a.map-point")).to_have_count(8)
    await shot(page, "map-district-phone")
    assert district.console_errors() == []
    audit, _ = await open_map(district, browser, DESKTOP, bypass_csp=True)
    assert await axe_violations(audit) == []
    await audit.select_option("#map-district", HOANG_HOA_FORMER_DISTRICT)
    await expect(audit.locator("svg.map a.map-point")).to_have_count(8)
    assert await axe_violations(audit) == []


async def test_a_set_without_coordinates_lists_its_units_below_an_empty_map(
    district: District, browser: Browser
) -> None:
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.select_option("#unit-set", "2024")
    await page.click('.main-nav a[href="#/map"]')
    await expect(page.locator("#unplaced-list a")).to_have_count(37)
    await expect(page.locator("#map-drawing")).to_contain_text("Chưa có toạ độ")
    assert await page.locator("#unplaced-list a").first.get_attribute("href") == "#/unit/2024/" + min(district.units)
