"""The overview in a real browser for bench.dashboard_sessions --browser (issue 28: "the overview in Chromium at
150,000 cameras with the 200 sessions running: tiles < 1 s, and a camera that goes down shows on an open page within
5 s without a reload"), measured in the same run as the sessions, over the same window.

A child process of its own (so that neither Playwright's client nor Chromium's work lands in the sessions' process,
whose event-loop lag the bench reports) drives one Debian Chromium (headless, launched as tests/dashboard/conftest.py
does; that module needs pytest, so the launch is repeated here) with one browser context per operator: a province
operator and the reference xã's, each logged in once through the dashboard's own form, the unit set saved as an
operator who chose it.

- Tiles: every TILES_EVERY_S each operator opens the overview in a new page of its context (a fresh load; cookies
  and the HTTP cache kept, as a browser keeps them), closed afterwards. The time is performance.now() (ms since
  the navigation began) once the KPIs and every tile the operator may see are in the DOM — what overview.js renders
  from its answers in one go — taken after the next frame (requestAnimationFrame, then a task), so after the paint.
  The KPI "cameras" figure on screen is kept, to check it is the fleet's. The first load of each is screenshot.
- Pushed: the province operator's overview page from the log-in stays open and is never reloaded (a marker set on
  `window` must survive). After every other round of loads, a camera that beat in the last seconds under the load
  (so the load's next "ok" for it is most of a minute away) is sent a heartbeat with status "down" through its
  unit's gateway token, as the load sends them; the time from that POST to the page showing it (its unit's tile
  counts one more camera down, or it is listed among the cameras down) is polled in the page every POLL_MS. The
  page's count of `live` events (app.js: `body.dataset.pushed`) says whether a push brought it (not the 10-s poll
  that is the fallback). The camera is then sent "ok" again: down for seconds, not until the load's next beat.
- CPU: the child's process tree (Playwright's client and driver, Chromium) over the window, in cores.
"""

from __future__ import annotations

import os
import queue
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from bench.common import percentiles
from bench.province_views import BROWSER_ARGS, CHROMIUM, PASSWORD, VIEW

TILES_EVERY_S = 20.0
PUSH_EVERY = 2  # a camera down after every other round's loads (every 40 s)
TILES_TIMEOUT_MS, PUSH_TIMEOUT_MS = 30_000, 30_000
POLL_MS = 50
RECENT_S = 30  # the camera sent down beat this recently (the most recent first): its next "ok" is far off
TILES_GOAL_MS, PUSH_GOAL_MS = 1000, 5000
DESKTOP: ViewportSize = {"width": 1366, "height": 768}

# Every page of an operator's context: the unit set it chose, and when its overview's KPIs and its `tiles` tiles are
# in the DOM (after the frame that paints them), with the footer's error line (a 503's "quá tải") at that moment.
PAGE_SCRIPT = """
if (location.protocol.startsWith('http')) {  // not the about:blank a new page starts on
  if (!localStorage.getItem('pulse.unitSet')) localStorage.setItem('pulse.unitSet', '%(view)s');
  window.__tiles = null;
  new MutationObserver((_, observer) => {
    if (document.querySelector('#kpis .kpi-value') && document.querySelectorAll('#tiles .tile').length >= %(tiles)d) {
      observer.disconnect();
      requestAnimationFrame(() => setTimeout(() => {
        const status = document.querySelector('#status');
        window.__tiles = {
          ms: performance.now(),
          cameras: document.querySelector('#kpis .kpi-value').textContent,
          banner: status && !status.hidden ? status.textContent : null,
          api: performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/'))
            .map((e) => [e.name.replace(location.origin, ''), Math.round(e.startTime), Math.round(e.duration)]),
        };
      }));
    }
  }).observe(document, {childList: true, subtree: true});
}
"""
# Cameras down in a unit, as its tile on the overview says (the last word of its "down" line; 0 without one).
TILE = '#tiles a.tile[data-unit="${u}"]'
UNIT_DOWN = f"""u => {{
  const line = document.querySelector(`{TILE} .tile-down`);
  return line ? Number(line.textContent.trim().split(/\\s+/).pop().replace(/\\D/g, '')) : 0;
}}"""
SHOWN_DOWN = f"""([unit, camera, before]) =>
  ({UNIT_DOWN})(unit) > before || document.querySelector(`#down tr[data-camera="${{camera}}"]`) !== null"""
# Cameras that beat a moment ago under the load, most recent first.
RECENT = """
SELECT cs.camera_id, c.unit_code FROM camera_status cs JOIN cameras c USING (camera_id)
WHERE c.unit_set = %s AND cs.last_state = 'up' AND cs.last_ts > now() - make_interval(secs => %s)
ORDER BY cs.last_ts DESC LIMIT 50
"""


def launch(playwright: Any) -> Browser:
    """Debian's Chromium, never a browser Playwright downloads: tests/dashboard/conftest.py's launch."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)


def start_browser(ctx: Any, conf: dict) -> dict:
    """The browser's process (`ctx`: a multiprocessing context), started: its "window" queue takes the measured
    window, its "results" queue gives the figures (see browser_result)."""
    browser = {"window": ctx.Queue(), "results": ctx.Queue()}
    browser["process"] = ctx.Process(
        target=browser_child, args=(conf, browser["window"], browser["results"]), daemon=True
    )
    browser["process"].start()
    return browser


def browser_child(conf: dict, window: Any, results: Any) -> None:
    """Logs in, waits for the measured window (`window` brings its monotonic start and end), measures, and puts the
    figures (or the error that stopped it) on `results`."""
    try:
        results.put(Run(conf).measure(window))
    except Exception as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"[:500]})


def browser_result(results: Any, timeout_s: float = 180) -> dict:
    """The child's figures, once its last step (begun inside the window) has ended."""
    try:
        return results.get(timeout=timeout_s)
    except queue.Empty:
        return {"error": f"the browser's process gave no figures within {timeout_s:.0f} s of the window's end"}


class Run:
    def __init__(self, conf: dict) -> None:
        self.conf = conf
        self.shots = Path(conf["shots"])
        self.token_of = {c: t for chunk, t in zip(conf["chunks"], conf["tokens"], strict=True) for c in chunk}
        self.console: Counter[str] = Counter()
        self.tiles: dict[str, list[float]] = {who: [] for who in conf["operators"]}
        self.slowest: dict[str, dict] = {}  # per operator: its slowest load's API requests [path, start, ms]
        self.cameras_shown: dict[str, Counter[str]] = {who: Counter() for who in conf["operators"]}
        self.failed: Counter[str] = Counter()
        self.banners: Counter[str] = Counter()
        self.pushes: list[dict] = []
        self.screenshots: list[str] = []

    def measure(self, window: Any) -> dict:
        with sync_playwright() as p, psycopg.connect(self.conf["database_url"], autocommit=True) as db:
            browser = launch(p)
            contexts = {who: self.log_in(browser, who) for who in self.conf["operators"]}
            watch = contexts["province"].pages[0]  # the province's overview since the log-in: never reloaded
            marker = uuid.uuid4().hex
            watch.evaluate("m => { window.__benchMarker = m; }", marker)
            contexts["xa"].pages[0].close()
            t0, t1 = window.get(timeout=3600)
            time.sleep(max(0.0, t0 - time.monotonic()))
            cpu_before = tree_cpu_seconds(os.getpid())
            rounds = 0
            while time.monotonic() < t1:
                for who, context in contexts.items():
                    self.open_overview(context, who, first=rounds == 0)
                if rounds % PUSH_EVERY == 0 and time.monotonic() < t1:
                    try:
                        self.push_once(db, watch, first=rounds == 0)
                    except PlaywrightError as exc:
                        self.failed[f"push: {str(exc).splitlines()[0][:120]}"] += 1
                rounds += 1
                time.sleep(max(0.0, min(t1, t0 + rounds * TILES_EVERY_S) - time.monotonic()))
            cpu_s = tree_cpu_seconds(os.getpid()) - cpu_before
            wall = time.monotonic() - t0
            kept = watch.evaluate("() => window.__benchMarker") == marker
            browser.close()
        return self.report(kept, cpu_s / wall)

    def log_in(self, browser: Browser, who: str) -> BrowserContext:
        """The operator's context, logged in through the dashboard's form; its first page shows the overview."""
        context = browser.new_context(viewport=DESKTOP, locale="vi-VN", base_url=self.conf["api"])
        context.add_init_script(PAGE_SCRIPT % {"view": VIEW, "tiles": self.conf["tiles"][who]})
        context.on("console", lambda m: self.note_console(who, m.type, m.text))
        context.on("weberror", lambda e: self.console.update([f"{who}: page error: {e.error}"[:160]]))
        page = context.new_page()
        page.goto("/")
        page.fill("#username", self.conf["operators"][who])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_function("() => window.__tiles !== null", timeout=TILES_TIMEOUT_MS)
        return context

    def note_console(self, who: str, kind: str, text: str) -> None:
        if kind == "error" and "401 (Unauthorized)" not in text:  # the first /me of a page before log-in
            self.console[f"{who}: {text}"[:160]] += 1

    def open_overview(self, context: BrowserContext, who: str, first: bool) -> None:
        """One fresh load of the overview in a new page: ms from navigation start to the tiles on screen."""
        page = context.new_page()
        try:
            page.goto("/", wait_until="commit")
            page.wait_for_function("() => window.__tiles !== null", timeout=TILES_TIMEOUT_MS)
            if first:
                self.screenshot(page, f"browser-tiles-{who}.png")
            seen = page.evaluate("() => window.__tiles")
            self.tiles[who].append(seen["ms"] / 1000)
            if seen["ms"] >= self.slowest.get(who, {}).get("tiles_ms", 0):
                self.slowest[who] = {"tiles_ms": round(seen["ms"]), "api_requests": seen["api"]}
            self.cameras_shown[who][seen["cameras"]] += 1
            if seen["banner"]:
                self.banners[f"{who}: {seen['banner']}"] += 1
        except PlaywrightError as exc:
            self.failed[f"{who}: {str(exc).splitlines()[0][:120]}"] += 1
        finally:
            page.close()

    def push_once(self, db: psycopg.Connection, page: Page, first: bool) -> None:
        """A camera that just beat goes down; the ms until the open page shows it, then it is back up."""
        used = {p["camera"] for p in self.pushes}
        rows = db.execute(RECENT, (VIEW, RECENT_S)).fetchall()
        chosen = next(((c, u) for c, u in rows if c in self.token_of and c not in used), None)
        if chosen is None:
            self.failed["push: no camera beat in the last seconds"] += 1
            return
        camera, unit = chosen
        before = page.evaluate(UNIT_DOWN, unit)
        events_before = page.evaluate("() => Number(document.body.dataset.pushed ?? 0)")
        sent = time.monotonic()
        answer = self.heartbeat(camera, "down")
        latency_ms: float | None = None
        if answer == 202:
            try:
                page.wait_for_function(SHOWN_DOWN, arg=[unit, camera, before], polling=POLL_MS, timeout=PUSH_TIMEOUT_MS)
                latency_ms = round((time.monotonic() - sent) * 1000)
                if first:
                    page.evaluate(f"u => document.querySelector(`{TILE}`)?.scrollIntoView({{block: 'center'}})", unit)
                    self.screenshot(page, "browser-pushed-down.png")
            except PlaywrightError:
                pass
        events = page.evaluate("() => Number(document.body.dataset.pushed ?? 0)") - events_before
        self.heartbeat(camera, "ok")
        self.pushes.append(
            {
                "camera": camera,
                "unit": unit,
                "gateway_answer": answer,
                "unit_down_before": before,
                "latency_ms": latency_ms,
                "within_5s": latency_ms is not None and latency_ms <= PUSH_GOAL_MS,
                "live_events_on_page": events,
            }
        )

    def heartbeat(self, camera: str, status: str) -> int:
        """One heartbeat through the camera's unit's gateway token, as the load sends them (with a status)."""
        body = {"heartbeats": [{"camera_id": camera, "ts": datetime.now(UTC).isoformat(), "status": status}]}
        headers = {"Authorization": f"Bearer {self.token_of[camera]}"}
        try:
            return httpx.post(self.conf["gateway_url"], json=body, headers=headers, timeout=10).status_code
        except httpx.HTTPError:
            return 0

    def screenshot(self, page: Page, name: str) -> None:
        path = self.shots / name
        page.screenshot(path=path)
        self.screenshots.append(str(path))

    def report(self, not_reloaded: bool, cpu_cores: float) -> dict:
        tiles = {who: percentiles(s) if s else {"n": 0} for who, s in self.tiles.items()}
        return {
            "operators": self.conf["operators"],
            "tiles_ms": tiles,
            "tiles_all_ms": {who: [round(x * 1000) for x in s] for who, s in self.tiles.items()},
            "slowest_load": self.slowest,
            "tiles_expected": self.conf["tiles"],
            "kpi_cameras_shown": {who: dict(c) for who, c in self.cameras_shown.items()},
            "kpi_cameras_expected": self.conf["cameras"],
            "kpi_cameras_right": {
                who: all(digits(text) == self.conf["cameras"][who] for text in shown)
                for who, shown in self.cameras_shown.items()
            },
            "every_load_under_1s": {
                who: bool(s) and max(s) * 1000 < TILES_GOAL_MS and not any(k.startswith(f"{who}:") for k in self.failed)
                for who, s in self.tiles.items()
            },
            "banners_at_tiles": dict(self.banners),
            "failed": dict(self.failed),
            "pushed": self.pushes,
            "pushed_all_within_5s": bool(self.pushes) and all(p["within_5s"] for p in self.pushes),
            "open_page_not_reloaded": not_reloaded,
            "console_errors": dict(self.console.most_common(10)),
            "cpu_cores": round(cpu_cores, 3),
            "screenshots": self.screenshots,
        }


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process and every process under it, with what their exited children had used (cutime,
    cstime): Chromium's renderers come and go with the pages."""
    parent, used = {}, {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parent[int(entry)] = int(fields[1])
        used[int(entry)] = sum(int(f) for f in fields[11:15])
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= more
        grown = bool(more)
    return sum(used.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def digits(text: str) -> int | None:
    """A figure as the page writes it ("150.000" in Vietnamese)."""
    found = re.sub(r"\D", "", text)
    return int(found) if found else None
