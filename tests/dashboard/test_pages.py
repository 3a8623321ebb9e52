"""Every page at desktop (1366×768) and phone (390×844) size: screenshots for a person to look at, nothing wider
than the screen, no console or Content-Security-Policy errors, and the accessibility basics — axe-core's WCAG 2
A/AA rules (contrast included) pass, and every control is reachable and usable with the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.dashboard.conftest import DESKTOP, PASSWORD, PHONE, District, log_in, shot
from tests.processes import run_pulse

pytestmark = [pytest.mark.db, pytest.mark.kafka]
AXE = Path(__file__).resolve().parents[2] / "dashboards" / "web" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = {
    "overview": ("#/", ".tile"),
    "commune": ("#/unit/2024/15865", "table.cameras tbody tr"),
    "incidents": ("#/incidents/open", "#incident-table > *"),
    "incidents-history": ("#/incidents/resolved", "#incident-table > *"),
    "engagement": ("#/engagement", "#ranking tbody tr"),
    "reports": ("#/reports", "#kept > *"),
    "account": ("#/account", "#password-form"),
    "admin": ("#/admin", "#tokens > *"),
    "audit": ("#/audit", "#audit tbody tr"),
}


async def axe_violations(page: Page) -> list[dict]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => (await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}}))"
        ".violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    return result


async def wider_than_screen(page: Page) -> bool:
    return await page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_every_page_renders_fits_and_passes_the_accessibility_rules(
    district: District, browser: Browser, size: str
) -> None:
    await district.minutes(3, silent=frozenset({district.cameras["15865"][0]}))
    # Screenshots and checks run on the page as served, with its Content-Security-Policy in force...
    page = await district.page(browser, DESKTOP if size == "desktop" else PHONE)
    await log_in(page)
    for name, (route, ready) in PAGES.items():
        await page.goto(f"{district.stack.api_url}/{route}")
        await page.locator(ready).first.wait_for()
        await shot(page, f"{name}-{size}")
        assert not await wider_than_screen(page), f"{name} at {size} size is wider than the screen"
    assert district.console_errors() == []
    # ...and axe-core is injected into a second page that lets the test's own script in.
    audit = await district.page(browser, DESKTOP if size == "desktop" else PHONE, bypass_csp=True)
    assert await axe_violations(audit) == []  # the log-in page
    await log_in(audit)
    for name, (route, ready) in PAGES.items():
        await audit.goto(f"{district.stack.api_url}/{route}")
        await audit.locator(ready).first.wait_for()
        assert await axe_violations(audit) == [], name


async def test_the_keyboard_alone_logs_in_and_opens_a_commune(district: District, browser: Browser) -> None:
    page = await district.page(browser, DESKTOP)
    await expect(page.locator("#username")).to_be_focused()  # the form takes focus on arrival
    await page.keyboard.type("admin")
    await page.keyboard.press("Tab")
    await expect(page.locator("#password")).to_be_focused()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.locator(".tile").first.wait_for()
    # From the top: the skip link first, then every control in order; a commune tile is reachable and opens.
    await page.reload()  # the session cookie keeps the operator logged in; focus starts at the top again
    await page.locator(".tile").first.wait_for()
    await page.keyboard.press("Tab")
    await expect(page.locator("#skip")).to_be_focused()
    focused: list[str] = []
    for _ in range(60):
        await page.keyboard.press("Tab")
        focused.append(await page.evaluate("() => document.activeElement.id || document.activeElement.dataset.unit"))
        if await page.evaluate("() => document.activeElement.dataset.unit === '15865'"):
            break
    assert "unit-set" in focused and "lang" in focused and "logout" in focused, focused
    await page.keyboard.press("Enter")
    await page.locator("table.cameras").wait_for()
    assert page.url.endswith("#/unit/2024/15865")
    # The period buttons of the chart work from the keyboard, and say which one is pressed.
    await page.locator('[data-window="7d"]').focus()
    await page.keyboard.press("Enter")
    await expect(page.locator('[data-window="7d"]')).to_have_attribute("aria-pressed", "true")
    # Nothing clickable is out of the tab order.
    unreachable = await page.evaluate(
        "() => [...document.querySelectorAll('a[href], button, select, input, textarea, summary')]"
        ".filter(e => e.tabIndex < 0 && !e.closest('dialog:not([open])')).map(e => e.outerHTML.slice(0, 80))"
    )
    assert unreachable == []


async def test_the_footer_says_where_the_figures_come_from(district: District, browser: Browser) -> None:
    """The API marks reads answered by a lagging replica, or by the primary when the replica is down (`X-Pulse-Reads`,
    tests/api/test_read_replica.py); the footer says so in Vietnamese, and nothing when all is well. The header
    is added here to the real server's answers."""
    page = await district.page(browser, DESKTOP)
    said: dict[str, str | None] = {"reads": None}

    async def mark(route) -> None:
        response = await route.fetch()
        headers = {**response.headers, **({"x-pulse-reads": said["reads"]} if said["reads"] else {})}
        await route.fulfill(response=response, headers=headers)

    await page.route("**/api/v1/**", mark)
    await log_in(page)
    reads = page.locator("#reads")
    await page.locator(".tile").first.wait_for()
    await expect(reads).to_be_hidden()
    said["reads"] = "lag=42"
    await page.goto(f"{district.stack.api_url}/#/incidents/open")
    await expect(reads).to_have_text("Số liệu đọc từ máy chủ bản sao, chậm 42 giây so với máy chủ chính.")
    said["reads"] = "primary"
    await page.goto(f"{district.stack.api_url}/#/engagement")
    await expect(reads).to_have_text("Máy chủ bản sao không trả lời; số liệu đọc từ máy chủ chính.")
    await shot(page, "footer-replica-down")
    said["reads"] = None
    await page.goto(f"{district.stack.api_url}/#/")
    await expect(reads).to_be_hidden()
    await page.unroute_all(behavior="ignoreErrors")  # the page's refreshes go on until its context is closed


async def test_a_password_is_changed_in_the_dashboard_and_a_weak_one_is_refused_saying_why(
    district: District, browser: Browser
) -> None:
    """Issue 31: the account page (the name in the header) changes the operator's password; a common one is refused
    with the reason in Vietnamese, and the new one is the one that logs in afterwards."""
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    await page.click("#user")
    await page.wait_for_selector("#password-form")
    said = page.locator("#password-said")

    async def change(current: str, new: str, again: str | None = None) -> None:
        await page.fill("#current", current)
        await page.fill("#new", new)
        await page.fill("#again", new if again is None else again)
        await page.click("#password-form button[type=submit]")

    await change(PASSWORD, "password1234")
    await expect(said).to_have_text(
        "Mật khẩu mới quá dễ đoán: nằm trong danh sách mật khẩu phổ biến hoặc đã bị lộ, hoặc theo một mẫu dễ đoán."
    )
    await change(PASSWORD, "ngắn")
    await expect(said).to_have_text("Mật khẩu mới cần ít nhất 12 ký tự.")
    await change("không phải", "trực ban đêm Hoằng Hóa")
    await expect(said).to_have_text("Mật khẩu hiện tại không đúng.")
    await change(PASSWORD, "trực ban đêm Hoằng Hóa", "trực ban đêm")
    await expect(said).to_have_text("Hai lần nhập mật khẩu mới không khớp.")
    await change(PASSWORD, "trực ban đêm Hoằng Hóa")
    await expect(said).to_have_text("Đã đổi mật khẩu. Các phiên đăng nhập khác đã kết thúc.")
    await shot(page, "account-password-changed")
    await page.click("#logout")
    await page.fill("#username", "admin")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Sai tên đăng nhập hoặc mật khẩu.")
    await page.fill("#password", "trực ban đêm Hoằng Hóa")
    await page.click("button[type=submit]")
    await expect(page.locator("#user")).to_contain_text("admin")  # logged in with the new one


async def test_a_disabled_account_is_refused_at_once_and_sees_the_log_in_again(
    district: District, browser: Browser
) -> None:
    """Issue 31: a xã operator's dashboard is open; `pulse users disable` ends the account — the page's very next
    request is refused and it shows the log-in form (no reload, no waiting for the session to expire), and the
    password no longer logs in."""
    page = await district.page(browser, DESKTOP)
    await log_in(page, "xa.hoang.giang")
    await page.click("#user")
    await page.wait_for_selector("#password-form")  # the account page: a session that works
    code, _out, err = run_pulse(district.stack.settings, "users", "disable", "xa.hoang.giang")
    assert code == 0, err
    await page.click(".brand a")  # back to the overview: its first read is refused
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#user")).to_have_count(0)
    await page.fill("#username", "xa.hoang.giang")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Sai tên đăng nhập hoặc mật khẩu.")
    await shot(page, "disabled-account-refused")
    refused = (
        district.stack.db()
        .execute("SELECT action FROM audit_log WHERE action IN ('session.refused', 'login.failed') ORDER BY audit_id")
        .fetchall()
    )
    assert [r["action"] for r in refused][:1] == ["session.refused"] and "login.failed" in {
        r["action"] for r in refused
    }


async def test_an_admin_takes_access_back_on_the_admin_page_and_reads_it_in_the_audit_trail(
    district: District, browser: Browser
) -> None:
    """Issue 31: where an admin looks for it — the account disabled and the API token revoked from the dashboard,
    each after a confirmation, in force at once, and both found in the audit page under the admin's name."""
    page = await district.page(browser, DESKTOP)
    await log_in(page)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.click("nav >> text=Quản trị")
    said = page.locator("#admin-said")
    await page.click('tr[data-user="xa.hoang.giang"] button[data-disable]')
    await expect(said).to_have_text("Đã vô hiệu hoá tài khoản xa.hoang.giang.")
    await expect(page.locator('tr[data-user="xa.hoang.giang"]')).to_contain_text("Đã vô hiệu hoá từ")
    await expect(page.locator('tr[data-user="admin"] button')).to_have_count(0)  # not one's own account
    token = district.stack.db().execute("SELECT token_id FROM api_tokens ORDER BY token_id").fetchone()["token_id"]
    await page.click(f'tr[data-token="{token}"] button[data-revoke]')
    await expect(said).to_have_text(f"Đã thu hồi mã API số {token}.")
    await expect(page.locator(f'tr[data-token="{token}"]')).to_contain_text("Đã thu hồi lúc")
    refused = await district.stack.http.get(
        f"{district.stack.api_url}/api/v1/me", headers={"Authorization": f"Bearer {district.stack.admin_token}"}
    )
    assert refused.status_code == 401  # the revoked token is the stack's own admin token
    row = district.stack.db().execute("SELECT disabled_at FROM operators WHERE username = 'xa.hoang.giang'")
    assert row.fetchone()["disabled_at"] is not None
    await shot(page, "admin-access-taken-back")

    await page.click("nav >> text=Nhật ký")
    await page.fill("#audit-action", "operators.update")
    await page.click("#audit-filter button[type=submit]")
    first = page.locator("#audit tbody tr").first
    await expect(first).to_contain_text("Sửa · tài khoản")
    await expect(first).to_contain_text("admin")
    await expect(first).to_contain_text("disabled_at")
    await expect(page.locator("#audit tbody tr")).to_have_count(1)
    await shot(page, "audit-filtered")
