// The operators' dashboard (SPEC §10): a hash-routed page over the JSON API. Each view (one module each:
// overview.js, unit.js, incidents.js, engagement.js, reports.js, map.js) loads its figures, then refreshes them every
// few seconds without reloading; the figures are the API's, only formatted here. This module is the shell:
// log-in, the header (navigation, unit-set and language switch, log-out), the router and the polling loop.

import { accountView } from "./account.js";
import { adminView, auditView } from "./admin.js";
import { api, ApiError, forgetEarlyReads, readEarly, setCsrf, whenReads, whenUnauthorized } from "./api.js";
import { chartsAvailable, forgetCharts } from "./charts.js";
import { $, html, raw, render } from "./dom.js";
import { engagementView } from "./engagement.js";
import { unitSetLabel } from "./format.js";
import * as i18n from "./i18n.js";
import { incidentsView } from "./incidents.js";
import { mapView } from "./map.js";
import { overviewReads, overviewView } from "./overview.js";
import { reportsView } from "./reports.js";
import { session, setReads, setStatus } from "./session.js";
import { unitView } from "./unit.js";

const { t } = i18n;
const REFRESH_MS = 5000; // live parts (states, incidents): SPEC §10 asks for ≤ 10 s
const PUSHED_REFRESH_MS = 10000; // while the server pushes changes (services/api/push.py), polling is the fallback
const MAX_BACKOFF_MS = 60000;
// The unit set the page showed last, remembered so that its next opening can begin the overview's reads at once.
const LAST_SET = "pulse.lastUnitSet";

let current = null; // the view on screen: { refresh(tick), destroy() }
let timer = null;
let tick = 0;
let failures = 0; // refreshes failed in a row: the wait doubles, so an overloaded server is not hammered
let live = null; // the server's push of live-state changes (EventSource), while it is open
let liveSet = null;

// Overloaded (503): wait what the server asks, and longer each time it says it again; any other failure: the usual
// interval, doubled while it lasts.
export function nextRefreshMs(error, failuresInRow, pushed) {
  const base = pushed ? PUSHED_REFRESH_MS : REFRESH_MS;
  if (!error) return base;
  const asked = error instanceof ApiError && error.status === 503 ? (error.retryAfter ?? 1) * 1000 : base;
  return Math.min(MAX_BACKOFF_MS, asked * 2 ** Math.max(0, failuresInRow - 1) * (1 + Math.random() * 0.2));
}

// One stream per unit set; a `live` event refreshes the view on screen at once (it reads again; unchanged figures
// answer 304). If the stream fails, EventSource reconnects by itself and polling carries on meanwhile.
function listen() {
  if (typeof EventSource === "undefined") return;
  if (live && liveSet === session.unitSet) return;
  live?.close();
  liveSet = session.unitSet;
  live = new EventSource(`/api/v1/live/events?unit_set=${encodeURIComponent(session.unitSet)}`);
  live.addEventListener("hello", () => refreshNow?.()); // what changed before the stream began is read now
  live.addEventListener("live", () => {
    document.body.dataset.pushed = String(Number(document.body.dataset.pushed ?? 0) + 1);
    refreshNow?.();
  });
}

function stopListening() {
  live?.close();
  live = null;
  liveSet = null;
}

let refreshNow = null;

function showError(main, error) {
  const text = error instanceof ApiError && error.status === 403 ? t("forbidden") : t("error", { e: error.message });
  render(main, html`<p class="error" role="alert">${text}</p>`);
}

function loginView(main) {
  document.body.classList.add("logged-out");
  render(
    main,
    html`<div class="login">
      <h1 id="page-title">${t("login_title")}</h1>
      <p>${t("login_intro")}</p>
      <form id="login-form" novalidate>
        <label for="username">${t("username")}</label>
        <input id="username" name="username" autocomplete="username" required maxlength="64">
        <label for="password">${t("password")}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
        <p id="login-error" class="error" role="alert"></p>
        <button type="submit" class="primary">${t("login_button")}</button>
      </form></div>`,
  );
  $("#username", main).focus();
  $("#login-form", main).addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { username: $("#username", main).value.trim(), password: $("#password", main).value };
    try {
      const me = await api("/api/v1/session", { method: "POST", body });
      await start(me);
    } catch (error) {
      $("#login-error", main).textContent =
        error.status === 429 ? t("login_too_many", { s: error.retryAfter ?? 60 }) : error.status === 401 || error.status === 422 ? t("login_wrong") : t("error", { e: error.message });
    }
  });
  return null;
}

function shell() {
  const me = session.me;
  const route = window.location.hash || "#/";
  const navItem = (href, key) =>
    html`<a href="${href}" ${route === href || (href !== "#/" && route.startsWith(href)) ? raw('aria-current="page"') : ""}>${t(key)}</a>`;
  render(
    $("#header"),
    html`<div class="brand"><a href="#/">${t("app_name")}</a></div>
      <nav aria-label="${t("app_name")}" class="main-nav">
        ${navItem("#/", "nav_overview")}${navItem("#/incidents", "nav_incidents")}${navItem("#/engagement", "nav_engagement")}${navItem("#/map", "nav_map")}
        ${navItem("#/reports", "nav_reports")}${me.role === "admin" ? html`${navItem("#/admin", "nav_admin")}${navItem("#/audit", "nav_audit")}` : ""}
      </nav>
      <div class="controls">
        <label>${t("unit_set")} <select id="unit-set">${me.unit_sets.map((s) => html`<option value="${s}" ${s === session.unitSet ? raw("selected") : ""}>${unitSetLabel(s)}</option>`)}</select></label>
        <button type="button" id="lang" aria-label="${t("language_label")}" lang="${i18n.getLang() === "vi" ? "en" : "vi"}">${t("language")}</button>
        <a class="user" id="user" href="#/account" title="${t("account_title")}">${me.username} · ${t(`role_${me.role}`)}</a>
        <button type="button" id="logout">${t("logout")}</button>
      </div>`,
  );
  $("#unit-set").addEventListener("change", (event) => {
    session.unitSet = event.target.value;
    localStorage.setItem("pulse.unitSet", session.unitSet);
    const match = window.location.hash.match(/^#\/unit\//);
    if (match) window.location.hash = "#/";
    else route_();
  });
  $("#lang").addEventListener("click", () => {
    i18n.setLang(i18n.getLang() === "vi" ? "en" : "vi");
    route_();
  });
  $("#logout").addEventListener("click", async () => {
    stopListening();
    await api("/api/v1/session", { method: "DELETE" }).catch(() => null);
    session.me = null;
    setCsrf(null);
    route_();
  });
}

function route_() {
  clearTimeout(timer);
  forgetCharts();
  current = null;
  const main = $("#main");
  main.replaceWith(main.cloneNode(false)); // drop the old view's listeners
  const fresh = $("#main");
  document.documentElement.lang = i18n.getLang();
  $("#skip").textContent = t("skip");
  if (!session.me) {
    render($("#header"), "");
    loginView(fresh);
    return;
  }
  document.body.classList.remove("logged-out");
  localStorage.setItem(LAST_SET, session.unitSet);
  shell();
  const hash = window.location.hash || "#/";
  let m;
  if (hash === "#/" || hash === "#") current = overviewView(fresh);
  else if ((m = hash.match(/^#\/unit\/([\w-]+)\/([\w-]+)$/))) current = unitView(fresh, m[1], m[2]);
  else if ((m = hash.match(/^#\/incidents(?:\/(open|resolved))?$/))) current = incidentsView(fresh, m[1] ?? "open");
  else if (hash === "#/engagement") current = engagementView(fresh);
  else if ((m = hash.match(/^#\/map(?:\/([\w-]+))?$/))) current = mapView(fresh, m[1] ?? null);
  else if (hash === "#/reports") current = reportsView(fresh);
  else if (hash === "#/account") current = accountView(fresh);
  else if (hash === "#/admin" && session.me.role === "admin") current = adminView(fresh);
  else if (hash === "#/audit" && session.me.role === "admin") current = auditView(fresh);
  else render(fresh, html`<h1 id="page-title">${t("not_found")}</h1><p><a href="#/">${t("back")}</a></p>`);
  const title = $("#page-title", fresh);
  if (title && !hash.startsWith("#/unit/")) document.title = `${title.textContent} · ${t("app_name")}`;
  if (!current) return;
  listen();
  tick = 0;
  // The next refresh starts REFRESH_MS after this one has answered, never beside it: on a slow server (a province
  // at the end of a month) overlapping refreshes would pile up and slow each other down.
  let running = false;
  let again = false;
  const run = async () => {
    const view = current;
    if (running) {
      again = true; // a change pushed while a refresh is on its way, which may have read before it: read once more
      return;
    }
    running = true;
    again = false;
    clearTimeout(timer);
    let failed = null;
    try {
      await view.refresh(tick++);
      failures = 0;
      if (view === current) setStatus(null);
    } catch (error) {
      failed = error;
      failures += 1;
      error.retryInMs = nextRefreshMs(error, failures, false);
      if (view === current) {
        if (error instanceof ApiError && (error.status === 403 || error.status === 404) && tick === 1) showError(fresh, error);
        else setStatus(error);
      }
    }
    running = false;
    if (view !== current) return;
    if (again && !failed) {
      run();
      return;
    }
    const pushed = live !== null && live.readyState === EventSource.OPEN;
    timer = setTimeout(run, failed ? failed.retryInMs : nextRefreshMs(null, 0, pushed));
  };
  refreshNow = () => {
    if (failures === 0) run(); // while backing off, a push does not cut the wait short
  };
  run();
}

async function start(me) {
  session.me = me;
  session.clockOffset = Date.parse(me.now) - Date.now();
  setCsrf(me.csrf_token ?? null);
  i18n.setTimeZone(me.timezone);
  if (!me.unit_sets) session.me = { ...(await api("/api/v1/me")), ...me }; // the log-in's answer has no sets
  // The operator's saved choice, else the set valid today (the server's date), else the set unit codes are read
  // in (PULSE_UNIT_SET): the past sets are one switch away.
  const { unit_sets: sets, unit_set_today: today, unit_set: readIn } = session.me;
  const saved = localStorage.getItem("pulse.unitSet");
  session.unitSet = sets.includes(saved) ? saved : (today ?? readIn);
  route_();
  forgetEarlyReads(); // the first view has taken what it reads first; later reads are read afresh
}

whenReads(setReads);
whenUnauthorized(() => {
  stopListening();
  if (session.me) {
    session.me = null;
    route_();
  }
});
window.addEventListener("hashchange", () => route_());
$("#skip").addEventListener("click", (event) => {
  event.preventDefault(); // the hash is the router's
  $("#main").focus();
});
i18n.setLang(i18n.getLang());
const lastSet = localStorage.getItem(LAST_SET);
if (lastSet && ["", "#", "#/"].includes(window.location.hash)) {
  for (const [path, params] of overviewReads(lastSet)) readEarly(path, params);
}
api("/api/v1/me")
  .then(start)
  .catch(() => {
    forgetEarlyReads();
    route_();
  });
if (!chartsAvailable()) document.body.classList.add("no-charts");
