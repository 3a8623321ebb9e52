"""The province overview in a real browser (issue: "the overview for 166 units that an operator can actually
read — grouped by former district (collapsible), sorted worst-first, searchable by name with or without
diacritics, filterable by state"): unit set 2025 over the district fixture, whose cameras all sit in Hoằng Hóa's
8 xã of 2025."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from services.core import accounts
from tests.dashboard.conftest import DESKTOP, PASSWORD, PHONE, District, log_in, shot
from tests.dashboard.test_pages import axe_violations, wider_than_screen

pytestmark = [pytest.mark.db, pytest.mark.kafka]
HOANG_HOA = "Huyện Hoằng Hóa"


async def province(district: District, browser: Browser, viewport: dict, *, bypass_csp: bool = False) -> Page:
    page = await district.page(browser, viewport, bypass_csp=bypass_csp)
    await log_in(page)
    await page.select_option("#unit-set", "2025")
    await expect(page.locator("details.group").first).to_be_visible()
    await expect(page.locator(".tile")).to_have_count(166)
    return page


def group(page: Page, name: str):
    return page.locator("details.group", has=page.locator(".group-name", has_text=name))


async def test_the_province_is_grouped_by_former_district_worst_first(district: District, browser: Browser) -> None:
    api = await district.stack.api("/api/v1/units", unit_set="2025")
    hoang_hoa = [u for u in api["items"] if u["former_district_name"] == HOANG_HOA]
    assert len(hoang_hoa) == 8 and sum(u["cameras_total"] for u in hoang_hoa) == 74
    page = await province(district, browser, DESKTOP)
    names = {u["former_district_name"] or "Chưa xác định huyện cũ" for u in api["items"]}
    assert set(await page.locator(".group-name").all_inner_texts()) == names
    # Hoằng Hóa's group: its 8 xã, every camera of the fixture, all up; the only group with cameras, so first.
    first = page.locator("details.group").first
    assert await first.locator(".group-name").inner_text() == HOANG_HOA
    summary = await first.locator("summary").inner_text()
    assert "8 đơn vị" in summary and "74/74 camera đang hoạt động (100,0 %)" in summary
    others = await page.locator("details.group").nth(1).locator("summary").inner_text()
    assert "chưa có camera" in others and "Chưa có số liệu" in others
    shown = await first.locator(".tile").evaluate_all("tiles => tiles.map(t => t.dataset.unit)")
    assert sorted(shown) == sorted(u["unit_code"] for u in hoang_hoa)
    # Collapsed until opened (nothing is down), and a click opens it.
    assert not await first.evaluate("d => d.open")
    await first.locator("summary").click()
    await expect(first.locator(".tile").first).to_be_visible()
    assert await first.evaluate("d => d.open")
    await shot(page, "province-overview-desktop")
    assert district.console_errors() == []


async def test_a_search_without_diacritics_finds_the_unit(district: District, browser: Browser) -> None:
    page = await province(district, browser, DESKTOP)
    await page.fill("#unit-q", "hoang hoa")
    visible = page.locator(".tile:visible")
    await expect(visible).to_have_count(1)
    assert await visible.locator(".tile-name").inner_text() == "Hoằng Hóa"
    assert await page.locator("details.group").count() == 1  # groups without a match are hidden
    assert await page.locator("details.group").evaluate("d => d.open")  # the one with a match is open
    assert await page.locator("#unit-count").inner_text() == "1/166 đơn vị khớp"
    await shot(page, "province-search-desktop")
    await page.fill("#unit-q", "HOÀNG GIANG")  # another spelling, capitals and the wrong tone: still found
    await expect(page.locator(".tile:visible .tile-name")).to_have_text(["Hoằng Giang"])
    await page.fill("#unit-q", "hoang giang")
    await expect(page.locator(".tile:visible .tile-name")).to_have_text(["Hoằng Giang"])
    await page.fill("#unit-q", "không có xã này")
    await expect(page.locator(".tile")).to_have_count(0)
    assert await page.locator("#unit-count").inner_text() == "Không có đơn vị nào khớp."
    await page.fill("#unit-q", "")  # cleared: every unit again, the groups as the operator left them (closed)
    await expect(page.locator(".tile")).to_have_count(166)
    assert await page.locator("details.group[open]").count() == 0
    assert district.console_errors() == []


async def test_the_state_filter_shows_the_units_with_cameras_down(district: District, browser: Browser) -> None:
    api = await district.stack.api("/api/v1/units", unit_set="2025")
    hoang_hoa = [u for u in api["items"] if u["former_district_name"] == HOANG_HOA]
    victim = district.cameras["15871"][0]  # Hoằng Giang (2024) → its xã of 2025
    await district.minutes(3, silent=frozenset({victim}))
    page = await province(district, browser, DESKTOP)
    after = await district.stack.api("/api/v1/units", unit_set="2025")
    down = [u for u in after["items"] if u["cameras_down"]]
    assert len(down) == 1 and down[0]["cameras_down"] == 1
    first = page.locator("details.group").first
    await expect(first.locator("summary")).to_contain_text("Mất kết nối 1")
    assert await first.evaluate("d => d.open")  # a group with a camera down opens by itself
    # Worst first inside the group: the unit with the camera down has the lowest availability today.
    await expect(first.locator(".tile").first).to_have_attribute("data-unit", down[0]["unit_code"])
    await page.select_option("#unit-filter", "down")
    await expect(page.locator(".tile")).to_have_count(1)
    tile = page.locator(f'.tile[data-unit="{down[0]["unit_code"]}"]')
    assert "Mất kết nối 1" in await tile.inner_text()  # the state in words, not only in colour
    await shot(page, "province-filter-down-desktop")
    await page.select_option("#unit-filter", "none")  # the units without a figure today: all but Hoằng Hóa's
    await expect(page.locator(".tile")).to_have_count(166 - len(hoang_hoa))
    await page.select_option("#unit-filter", "degraded")
    await expect(page.locator(".tile")).to_have_count(0)
    await page.select_option("#unit-filter", "all")
    await expect(page.locator(".tile")).to_have_count(166)
    await tile.click()
    await page.wait_for_selector(f'tr[data-camera="{victim}"][data-state="down"]')
    assert district.console_errors() == []


async def test_the_province_overview_fits_a_phone_and_passes_the_accessibility_rules(
    district: District, browser: Browser
) -> None:
    await district.minutes(3, silent=frozenset({district.cameras["15865"][0]}))
    page = await province(district, browser, PHONE)
    await page.locator("details.group").first.wait_for()
    await shot(page, "province-overview-phone")
    assert not await wider_than_screen(page)
    await page.fill("#unit-q", "hoang")
    await expect(page.locator("#unit-count")).to_contain_text("đơn vị khớp")
    await shot(page, "province-search-phone")
    assert not await wider_than_screen(page)
    assert district.console_errors() == []
    for viewport in (DESKTOP, PHONE):
        audit = await province(district, browser, viewport, bypass_csp=True)
        await audit.locator("details.group").first.locator("summary").click()  # open and closed groups both
        assert await axe_violations(audit) == []
        await audit.fill("#unit-q", "hoang hoa")
        await expect(audit.locator(".tile")).to_have_count(1)
        assert await axe_violations(audit) == []
        await audit.click("#lang")
        await expect(audit.locator("#unit-filter option").first).to_have_text("All units")
        assert await axe_violations(audit) == []


async def test_a_xa_operator_sees_only_its_xa_in_the_province(district: District, browser: Browser) -> None:
    """The operator of 2025 Hoằng Giang (15880): in the 2025 view one tile, its own; the cameras of the 2024
    communes that went into it; another xã's page refused; no province-wide report."""
    accounts.create_operator(
        district.stack.conn, username="xa.hoang.giang.2025", role="commune", unit_set="2025",
        unit_codes=["15880"], password=PASSWORD,
    )  # fmt: skip
    page = await district.page(browser, DESKTOP)
    await log_in(page, "xa.hoang.giang.2025")
    await page.select_option("#unit-set", "2025")
    await expect(page.locator(".tile")).to_have_count(1)
    assert await page.locator(".tile-name").inner_text() == "Hoằng Giang"
    api = await district.stack.api("/api/v1/units", unit_set="2025")
    giang = next(u for u in api["items"] if u["unit_code"] == "15880")
    assert await page.locator(".kpi", has_text="Tổng số camera").locator(".kpi-value").inner_text() == str(
        giang["cameras_total"]
    )
    await page.goto(f"{district.stack.api_url}/#/unit/2025/15865")
    await page.wait_for_selector("text=Bạn không có quyền xem nội dung này.")
    await page.goto(f"{district.stack.api_url}/#/unit/2025/15880")
    await page.wait_for_selector("table.cameras tbody tr")
    assert await page.locator("table.cameras tbody tr").count() == giang["cameras_total"]
    await shot(page, "xa-operator-2025-desktop")
    # its reports page offers its own xã's briefing only (not the province's)
    await page.click("nav.main-nav >> text=Báo cáo")
    await expect(page.locator("#report-unit option")).to_have_count(1)
    assert await page.locator("#report-unit option").inner_text() == "Hoằng Giang (15880)"
    # the refused page's 403 is the only error the browser may report
    assert [m for m in district.console_errors() if "403 (Forbidden)" not in m] == []
