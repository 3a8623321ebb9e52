"""The operators' dashboard in a real browser (issue: log in, see the 37 communes, open one, watch a camera go
down without reloading, acknowledge its incident, switch language and unit set, a commune operator's view),
with the figures on screen checked against the API's."""

from __future__ import annotations

import io
import time

import openpyxl
import pytest
from playwright.async_api import Browser, Page, expect

from tests.dashboard.conftest import (
    COMMUNE_UNIT,
    DESKTOP,
    PASSWORD,
    STREAM_CAMERA,
    STREAM_PASSWORD,
    District,
    log_in,
    shot,
)
from tests.e2e.harness import until

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def vi_pct(fraction: float | None) -> str:
    """How the page writes a fraction in Vietnamese: one decimal, decimal comma, a space before %."""
    return "—" if fraction is None else f"{fraction * 100:.1f}".replace(".", ",") + " %"


def vi_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


async def kpi(page: Page, label: str) -> str:
    return await page.locator(".kpi", has_text=label).locator(".kpi-value").first.inner_text()


async def test_overview_shows_every_commune_with_the_apis_figures(district: District, browser: Browser) -> None:
    page = await district.page(browser, DESKTOP)
    assert await page.get_attribute("html", "lang") == "vi"
    await shot(page, "login-desktop")
    await log_in(page)
    api = await district.stack.api("/api/v1/units")
    await expect(page.locator(".tile")).to_have_count(37)
    await page.locator("#kpis .kpi").first.wait_for()
    s = api["summary"]
    assert await kpi(page, "Tổng số camera") == vi_int(s["cameras_total"]) == "74"
    assert await kpi(page, "Đang hoạt động") == vi_int(s["cameras_up"])
    assert await kpi(page, "Tỷ lệ hoạt động hôm nay") == vi_pct(s["availability_today"])
    for item in api["items"]:
        tile = page.locator(f'.tile[data-unit="{item["unit_code"]}"]')
        assert await tile.locator(".tile-name").inner_text() == item["unit_name"]
        assert await tile.locator(".tile-figure").inner_text() == vi_pct(item["availability_today"])
    names = await page.locator(".tile-name").all_inner_texts()
    assert "Hoằng Giang" in names and "Bút Sơn" in names  # diacritics as the reference data has them
    await shot(page, "overview-desktop")
    assert district.console_errors() == []


async def test_a_commune_page_updates_by_itself_when_a_camera_goes_down(district: District, browser: Browser) -> None:
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.click('.tile[data-unit="15865"]')
    victim, other = district.cameras["15865"]
    await page.wait_for_selector(f'tr[data-camera="{victim}"][data-state="up"]')
    assert await page.locator("h1").inner_text() == "Bút Sơn"
    assert await page.locator("table.cameras tbody tr").count() == 2
    url = page.url

    # The victim stops beating; the others go on, so the gateway's watermark moves and it is down (SPEC §5).
    await district.minutes(3, silent=frozenset({victim}))
    camera = await district.stack.api(f"/api/v1/cameras/{victim}")
    assert camera["state"] == "down"
    started = time.monotonic()
    await page.wait_for_selector(f'tr[data-camera="{victim}"][data-state="down"]', timeout=10_000)
    print(f"page showed the camera down {time.monotonic() - started:.1f} s after the API did")
    assert page.url == url  # no reload, no navigation
    row = page.locator(f'tr[data-camera="{victim}"]')
    assert "Mất kết nối" in await row.inner_text()  # the state in words, not only in colour
    assert await page.locator(f'tr[data-camera="{other}"]').get_attribute("data-state") == "up"
    assert await kpi(page, "Mất kết nối") == "1"
    # The prober's picture of the camera with a stream is shown; its stream URL's password never reaches the page.
    picture = page.locator(f'tr[data-camera="{STREAM_CAMERA}"] img.thumb')
    await expect(picture).to_have_js_property("naturalWidth", 320)
    assert STREAM_PASSWORD not in await page.content()
    await page.locator("#avail-table").evaluate("e => e.closest('details').open = true")
    await shot(page, "commune-desktop")
    assert district.console_errors() == []


async def test_a_commune_page_lists_its_devices_with_their_connection_state_in_words(
    district: District, browser: Browser
) -> None:
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.goto(f"{district.stack.api_url}/#/unit/2024/15865")
    await page.wait_for_selector('tr[data-device="BS-DH1"]')
    api = await district.stack.api("/api/v1/devices", unit="15865")
    assert [d["name"] for d in api["items"]] == ["BS-DH1", "BS-NVR1"]
    for device in api["items"]:
        row = page.locator(f'tr[data-device="{device["name"]}"]')
        assert await row.get_attribute("data-device-state") == device["state"]
    failing = await page.locator('tr[data-device="BS-DH1"]').inner_text()
    assert "Sai tài khoản hoặc mật khẩu" in failing and "refused the user name or password" in failing
    healthy = await page.locator('tr[data-device="BS-NVR1"]').inner_text()
    assert "Đã kết nối" in healthy and "Hikvision (ISAPI)" in healthy and "2 kênh đã gán camera" in healthy
    assert "Mat-khau-thiet-bi" not in await page.content()
    await page.locator("#devices-section").scroll_into_view_if_needed()
    await shot(page, "commune-devices-desktop")
    # another commune has none: the section stays hidden
    await page.goto(f"{district.stack.api_url}/#/unit/2024/15871")
    await page.wait_for_selector("table.cameras tbody tr")
    await expect(page.locator("#devices-section")).to_be_hidden()
    assert district.console_errors() == []


async def test_an_operator_acknowledges_an_incident(district: District, browser: Browser) -> None:
    victim = district.cameras["15877"][0]
    district.stack.start_alerts()
    await district.minutes(3, silent=frozenset({victim}))
    incidents = await until(
        lambda: district.stack.db().execute("SELECT incident_id FROM incidents WHERE status = 'open'").fetchall(),
        what="the incident opened",
    )
    incident_id = incidents[0]["incident_id"]
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.wait_for_selector(f'#incidents li[data-incident="{incident_id}"]')  # on the overview too
    await page.click("nav.main-nav >> text=Sự cố")
    row = page.locator(f'tr[data-incident="{incident_id}"]')
    await row.wait_for()
    assert "Camera mất kết nối" in await row.inner_text() and "Hoằng" in await row.inner_text()
    await shot(page, "incidents-desktop")
    await row.get_by_role("button", name="Tiếp nhận").click()
    await page.fill("#ack-note", "Đã cử cán bộ kỹ thuật xuống kiểm tra")
    await page.get_by_role("button", name="Xác nhận tiếp nhận").click()
    await page.wait_for_selector(f'tr[data-incident="{incident_id}"] .ack')
    assert "admin" in await row.inner_text()
    stored = (await district.stack.api("/api/v1/incidents", status="open"))["items"][0]
    assert stored["acknowledged_by"] == "admin" and stored["ack_note"] == "Đã cử cán bộ kỹ thuật xuống kiểm tra"
    assert district.console_errors() == []


async def test_language_and_unit_set_switch(district: District, browser: Browser) -> None:
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.click("#lang")
    await page.wait_for_selector("nav.main-nav >> text=Overview")
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.locator("h1").inner_text() == "Overview"
    await page.wait_for_selector("text=Availability today")
    await shot(page, "overview-desktop-en")

    await page.select_option("#unit-set", "2025")
    await expect(page.locator(".tile")).to_have_count(166)  # the province's units from 1 July 2025
    api = await district.stack.api("/api/v1/units", unit_set="2025")
    # grouped by former district, worst first; tiles of closed groups are in the page but not shown
    names = await page.locator(".tile-name").evaluate_all("names => names.map(n => n.textContent)")
    assert sorted(names) == sorted(u["unit_name"] for u in api["items"])
    total = sum(u["cameras_total"] for u in api["items"])
    assert total == 74  # every 2024 commune's cameras, aggregated through the mapping
    assert await kpi(page, "Cameras") == "74"
    await page.click("#lang")  # back to Vietnamese, and the choice of unit set stays
    await page.wait_for_selector("nav.main-nav >> text=Tổng quan")
    await expect(page.locator(".tile")).to_have_count(166)
    option = page.locator('#unit-set option[value="2025"]')
    assert await option.inner_text() == "01/07/2025 – nay · 166 đơn vị"
    await shot(page, "overview-desktop-2025")
    assert district.console_errors() == []


async def test_the_dashboard_opens_on_the_set_valid_today(district: District, browser: Browser) -> None:
    """Nothing saved in the browser: the set valid on the server's date (2025 on 25 November 2026), with the past
    one switch away; the switch is then remembered. A commune operator who can read nothing of 2025 (Hoằng Giang
    went into a xã with others) opens on PULSE_UNIT_SET's 2024, where its commune is."""
    page = await district.page(browser, DESKTOP, unit_set=None)
    await page.fill("#username", "admin")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator(".tile")).to_have_count(166)
    assert await page.locator("#unit-set").input_value() == "2025"
    await page.select_option("#unit-set", "2024")
    await expect(page.locator(".tile")).to_have_count(37)
    await page.reload()
    await expect(page.locator(".tile")).to_have_count(37)
    assert await page.locator("#unit-set").input_value() == "2024"

    commune = await district.page(browser, DESKTOP, unit_set=None)
    await log_in(commune, "xa.hoang.giang")
    assert await commune.locator(".tile-name").all_inner_texts() == ["Hoằng Giang"]
    assert await commune.locator("#unit-set").input_value() == "2024"
    assert district.console_errors() == []


async def test_a_commune_operator_sees_only_that_commune(district: District, browser: Browser) -> None:
    district.stack.start_alerts()
    await district.minutes(3, silent=frozenset({district.cameras["15877"][0], district.cameras[COMMUNE_UNIT][0]}))
    await until(
        lambda: district.stack.count("SELECT count(*) AS n FROM incidents WHERE status = 'open'") == 2,
        what="two incidents",
    )
    page = await district.page(browser, DESKTOP)
    await log_in(page, "xa.hoang.giang")
    assert await page.locator(".tile").count() == 1
    assert await page.locator(".tile-name").inner_text() == "Hoằng Giang"
    assert "Cán bộ xã" in await page.locator("#user").inner_text()
    await page.wait_for_selector("#incidents li")
    assert await page.locator("#incidents li").count() == 1  # the other commune's incident is not shown
    assert await kpi(page, "Tổng số camera") == "2"
    await shot(page, "overview-commune-operator")
    await page.goto(f"{district.stack.api_url}/#/unit/2024/15877")
    await page.wait_for_selector("text=Bạn không có quyền xem nội dung này.")
    await page.goto(f"{district.stack.api_url}/#/incidents/open")
    await page.locator("tr[data-incident]").first.wait_for()
    assert await page.locator("tr[data-incident]").count() == 1
    assert await page.get_by_role("button", name="Tiếp nhận").count() == 1  # its own incident: may acknowledge
    # Reports: its own xã's briefing, for its committee; no whole-district briefing, no kept ones.
    await page.click("nav.main-nav >> text=Báo cáo")
    await expect(page.locator("#report-unit option")).to_have_count(1)
    assert await page.locator("#report-unit option").inner_text() == "Hoằng Giang (15871)"
    assert await page.locator("#kept").count() == 0
    await page.select_option("#report-month", "2026-11")
    async with page.expect_download() as pdf_download:
        await page.click('a[data-format="pdf"]')
    assert (await (await pdf_download.value).path()).read_bytes().startswith(b"%PDF")
    href = await page.locator('a[data-format="pdf"]').get_attribute("href")
    assert "unit=15871" in href
    await shot(page, "reports-commune-operator")
    # the only failed loads are the refused unit page above
    assert all("403 (Forbidden)" in e for e in district.console_errors())
    await page.click("#logout")
    await page.wait_for_selector("#login-form")
    assert (await page.context.cookies()) == []


async def test_the_engagement_page_ranks_communes_with_the_apis_figures(district: District, browser: Browser) -> None:
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.click("nav.main-nav >> text=Người dùng ứng dụng")
    await page.locator("#ranking tbody tr").first.wait_for()
    api = await district.stack.api("/api/v1/engagement")
    district_figures = api["district"]
    assert district_figures["mau"] == 6 and district_figures["feedback_submitted"] == 1
    assert await kpi(page, "Người dùng hoạt động trong tháng") == "6"
    assert await kpi(page, "Phản ánh đã gửi") == "1"
    rows = page.locator("#ranking tbody tr")
    assert await rows.count() == 37
    first_three = [await rows.nth(i).get_attribute("data-unit") for i in range(3)]
    assert first_three == ["15865", "15871", "15877"]  # by MAU: 3, 2, 1
    by_code = {i["unit_code"]: i for i in api["items"]}
    for i in range(3):
        cells = await rows.nth(i).locator("td").all_inner_texts()
        assert cells[2] == str(by_code[first_three[i]]["mau"])
    assert await page.locator("#month option").first.inner_text() == "Tháng 11/2026"
    await page.select_option("#sort", "feedback_submitted")
    await expect(rows.first).to_have_attribute("data-unit", "15865")
    await shot(page, "engagement-desktop-data")
    assert district.console_errors() == []


async def test_the_monthly_report_downloads_from_the_reports_page(district: District, browser: Browser) -> None:
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.click("nav.main-nav >> text=Báo cáo")
    await page.select_option("#report-month", "2026-11")
    async with page.expect_download() as pdf_download:
        await page.click('a[data-format="pdf"]')
    pdf = await (await pdf_download.value).path()
    assert (await pdf_download.value).suggested_filename == "bao-cao-thang-2026-11-2024.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    async with page.expect_download() as xlsx_download:
        await page.click('a[data-format="xlsx"]')
    book = openpyxl.load_workbook(io.BytesIO((await (await xlsx_download.value).path()).read_bytes()))
    rows = {r[0].value: r[1].value for r in book["Tổng hợp"].iter_rows() if r[0].value}
    summary = (await district.stack.api("/api/v1/units"))["summary"]
    assert rows["Số camera đang lắp đặt"] == summary["cameras_total"] == 74
    assert rows["Người dùng hoạt động trong tháng (MAU)"] == 6
    # one commune's own briefing from the same page: every unit by name, after the whole set
    await expect(page.locator("#report-unit option")).to_have_count(38)
    await page.select_option("#report-unit", "15865")
    async with page.expect_download() as unit_download:
        await page.click('a[data-format="xlsx"]')
    assert "unit=15865" in (await unit_download.value).url
    await shot(page, "reports-desktop")
    assert district.console_errors() == []


async def test_a_camera_that_goes_down_is_pushed_to_the_open_overview(district: District, browser: Browser) -> None:
    """Issue 28: the overview learns of a change from the server's push (Server-Sent Events), not only from its
    poll: the page counts the pushed events it received (`data-pushed`), and shows the camera down within 5 s of
    the API saying so, without a reload."""
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.goto(f"{district.stack.api_url}/#/")
    url = page.url
    await expect(page.locator(".kpi", has_text="Mất kết nối").locator(".kpi-value").first).to_have_text("0")
    before = int(await page.evaluate("Number(document.body.dataset.pushed ?? 0)"))
    victim = district.cameras[COMMUNE_UNIT][0]
    await district.minutes(3, silent=frozenset({victim}))
    assert (await district.stack.api(f"/api/v1/cameras/{victim}"))["state"] == "down"
    started = time.monotonic()
    await expect(page.locator(".kpi", has_text="Mất kết nối").locator(".kpi-value").first).to_have_text(
        "1", timeout=5_000
    )
    print(f"the overview showed the camera down {time.monotonic() - started:.1f} s after the API did")
    assert int(await page.evaluate("Number(document.body.dataset.pushed ?? 0)")) > before  # it was pushed
    assert page.url == url
    assert district.console_errors() == []


async def test_the_overview_reads_its_figures_beside_me_when_the_page_opens(
    district: District, browser: Browser
) -> None:
    """Issue 28: opening the overview again, its first reads go out at once, beside /me, for the unit set the page
    showed last — not one round trip later — and each once; logged out, the page shows the log-in form."""
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.reload()
    await expect(page.locator(".tile").first).to_be_visible()
    await expect(page.locator(".kpi-value").first).to_have_text("74")  # 37 communes × 2 cameras
    reads = await page.evaluate(
        "() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/'))"
        ".map((e) => [new URL(e.name).pathname, e.startTime, e.responseEnd])"
    )
    (me_end,) = [end for path, _start, end in reads if path == "/api/v1/me"]
    for path in ("/api/v1/units", "/api/v1/cameras", "/api/v1/incidents"):
        begun = [start for p, start, _end in reads if p == path and start < me_end]
        assert len(begun) == 1, (path, reads)  # begun before /me answered, and not twice
    await page.context.clear_cookies()
    await page.reload()
    await expect(page.locator("#login-form")).to_be_visible()
    assert district.console_errors() == []
