// The operators' dashboard (SPEC §10): a hash-routed page over the JSON API. Each view loads its figures, then
// refreshes them every few seconds without reloading; the figures are the API's, only formatted here.

import { api, ApiError, setCsrf, whenUnauthorized } from "./api.js";
import { chartsAvailable, forgetCharts, lineChart } from "./charts.js";
import { $, $$, html, raw, render } from "./dom.js";
import * as i18n from "./i18n.js";

const { t, num, pct } = i18n;
const REFRESH_MS = 5000; // live parts (states, incidents): SPEC §10 asks for ≤ 10 s
const SLOW_EVERY = 12; // charts and engagement: every 12th refresh (a minute)
const STATES = ["down", "unknown", "degraded", "up"];
const STATE_ICONS = { up: "●", degraded: "◐", down: "✕", unknown: "?", maintenance: "⚒" };

const session = { me: null, unitSet: null, clockOffset: 0 };
let current = null; // the view on screen: { refresh(tick), destroy() }
let timer = null;
let tick = 0;

// ---- helpers ------------------------------------------------------------------------------------------------

function band(availability) {
  if (availability === null || availability === undefined) return "none";
  if (availability >= 0.99) return "good";
  if (availability >= 0.95) return "fair";
  return "poor";
}

function bandBadge(availability) {
  const b = band(availability);
  const icon = { good: "✓", fair: "!", poor: "✕", none: "–" }[b];
  return html`<span class="band band-${b}"><span aria-hidden="true">${icon}</span> ${t(`band_${b}`)}</span>`;
}

function stateBadge(state) {
  return html`<span class="state state-${state}"><span aria-hidden="true">${STATE_ICONS[state] ?? "?"}</span> ${t(`state_${state}`)}</span>`;
}

// A device's connection state (SPEC §4), drawn with the camera states' colours and icons.
const DEVICE_LOOK = { connected: "up", connecting: "unknown", auth_failed: "down", unreachable: "down", protocol_error: "degraded" };

function deviceBadge(state) {
  const look = DEVICE_LOOK[state] ?? "unknown";
  return html`<span class="state state-${look}"><span aria-hidden="true">${STATE_ICONS[look]}</span> ${t(`device_${state}`)}</span>`;
}

function qualityText(camera) {
  const q = camera.quality;
  if (!q) return t("none");
  const flags = ["black", "frozen", "obstructed"].filter((f) => q[f]).map((f) => t(`q_${f}`));
  if (flags.length) return flags.join(", ");
  // No flag, but the camera (or the prober) said degraded: e.g. a blurred lens, judged on sharpness.
  const verdict = camera.last_status === "degraded" ? t("q_poor") : t("q_ok");
  return typeof q.blur === "number" ? `${verdict} · ${t("q_blur", { v: num(q.blur, 0) })}` : verdict;
}

function kpi(label, value, extra = "") {
  return html`<div class="kpi"><div class="kpi-value">${value}</div><div class="kpi-label">${label}</div>${extra}</div>`;
}

function unitSetParams() {
  return { unit_set: session.unitSet };
}

function unitSetLabel(set) {
  return i18n.has(`unit_set_${set}`) ? t(`unit_set_${set}`) : set;
}

function canAcknowledge(incident) {
  const me = session.me;
  if (me.role === "admin") return true;
  if (me.role !== "commune" || !incident.unit_code) return false;
  return me.units.some((u) => u.unit_set === incident.unit_set && u.unit_code === incident.unit_code);
}

// The server's clock: months, "today" and open durations are reckoned on it, not on the operator's device.
function serverNow() {
  return new Date(Date.now() + session.clockOffset);
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function localMonth() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: session.me.timezone, year: "numeric", month: "2-digit" })
    .formatToParts(serverNow());
  return `${parts.find((p) => p.type === "year").value}-${parts.find((p) => p.type === "month").value}`;
}

// `count` months ending with `month` (YYYY-MM), newest first.
function lastMonths(month, count) {
  let [y, m] = month.split("-").map(Number);
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push(`${y}-${String(m).padStart(2, "0")}`);
    [y, m] = m === 1 ? [y - 1, 12] : [y, m - 1];
  }
  return out;
}

// Days from..to (exclusive, YYYY-MM-DD) with the API's daily rows, days without activity as 0.
function fillDays(from, to, rows) {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const out = [];
  for (let d = new Date(`${from}T00:00:00Z`); d < new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
    const day = d.toISOString().slice(0, 10);
    out.push({ day, dau: byDay.get(day)?.dau ?? 0 });
  }
  return out;
}

function setStatus(error) {
  const status = $("#status");
  const line = $("#updated");
  if (error) {
    status.textContent = error instanceof TypeError ? t("offline") : t("update_failed", { e: error.message });
    status.hidden = false;
  } else {
    status.hidden = true;
    status.textContent = "";
    line.textContent = t("updated", { t: i18n.clock(serverNow()) });
  }
}

function showError(main, error) {
  const text = error instanceof ApiError && error.status === 403 ? t("forbidden") : t("error", { e: error.message });
  render(main, html`<p class="error" role="alert">${text}</p>`);
}

// ---- overview ----------------------------------------------------------------------------------------------

function overviewView(main) {
  render(
    main,
    html`<h1 id="page-title">${t("nav_overview")}</h1>
      <div class="overview">
      <section aria-labelledby="page-title" class="kpis" id="kpis"><p>${t("loading")}</p></section>
      <section aria-labelledby="units-h" class="units">
        <h2 id="units-h">${t("units_heading")}</h2>
        <p class="note">${t("units_heading_note")}. ${t("legend")}</p>
        <ul class="tiles" id="tiles"></ul>
      </section>
      <div class="columns">
        <section aria-labelledby="down-h"><h2 id="down-h">${t("down_now")}</h2><div id="down"></div></section>
        <section aria-labelledby="inc-h"><h2 id="inc-h">${t("open_incidents")}</h2><div id="incidents"></div></section>
      </div></div>`,
  );
  let mau = null;
  return {
    async refresh(n) {
      const district = session.me.units === null;
      const [units, down, incidents] = await Promise.all([
        api("/api/v1/units", { params: unitSetParams() }),
        api("/api/v1/cameras", { params: { ...unitSetParams(), state: "down", limit: 15 } }),
        api("/api/v1/incidents", { params: { status: "open", limit: 15 } }),
      ]);
      if (district && (mau === null || n % SLOW_EVERY === 0)) {
        mau = (await api("/api/v1/engagement", { params: unitSetParams() })).district?.mau ?? null;
      }
      const s = units.summary;
      render(
        $("#kpis", main),
        html`${kpi(t("kpi_cameras"), num(s.cameras_total))}
          ${kpi(t("kpi_up"), num(s.cameras_up))}
          ${kpi(t("kpi_down"), num(s.cameras_down), s.cameras_down ? html`<div class="kpi-flag">${stateBadge("down")}</div>` : "")}
          ${kpi(t("kpi_degraded"), num(s.cameras_degraded))}
          ${kpi(t("kpi_unknown"), num(s.cameras_unknown))}
          ${kpi(t("kpi_avail_today"), pct(s.availability_today), bandBadge(s.availability_today))}
          ${kpi(t("kpi_avail_month"), pct(s.availability_month), bandBadge(s.availability_month))}
          ${district ? kpi(t("kpi_mau"), num(mau)) : ""}
          ${kpi(t("kpi_open_incidents"), num(incidents.items.length))}`,
      );
      render(
        $("#tiles", main),
        units.items.map(
          (u) => html`<li>
            <a class="tile tile-${band(u.availability_today)}" href="#/unit/${units.unit_set}/${u.unit_code}"
               data-unit="${u.unit_code}">
              <span class="tile-name">${u.unit_name}</span>
              <span class="tile-figure">${pct(u.availability_today)}</span>
              ${bandBadge(u.availability_today)}
              <span class="tile-line">${t("unit_cameras", { up: num(u.cameras_up), total: num(u.cameras_total) })}</span>
              ${u.cameras_down ? html`<span class="tile-line tile-down">${stateBadge("down")} ${num(u.cameras_down)}</span>` : ""}
              <span class="tile-line">${t("unit_mau", { n: num(u.mau_month) })}</span>
            </a></li>`,
        ),
      );
      const names = new Map(units.items.map((u) => [u.unit_code, u.unit_name]));
      render(
        $("#down", main),
        down.total === 0
          ? html`<p>${t("down_none")}</p>`
          : html`<p class="count" data-count="${down.total}">${num(down.total)} camera</p>
            <div class="table-wrap" tabindex="0"><table>
              <thead><tr><th scope="col">${t("camera")}</th><th scope="col">${t("unit")}</th><th scope="col">${t("last_seen")}</th></tr></thead>
              <tbody>${down.items.map(
                (c) => html`<tr data-camera="${c.camera_id}">
                  <td><span class="mono">${c.camera_id}</span><br><small>${c.name}</small></td>
                  <td>${c.view_unit_code ? html`<a href="#/unit/${units.unit_set}/${c.view_unit_code}">${names.get(c.view_unit_code) ?? c.view_unit_code}</a>` : t("not_attributable")}</td>
                  <td>${i18n.dateTime(c.last_seen)}</td></tr>`,
              )}</tbody></table></div>
            ${down.total > down.items.length ? html`<p class="note">${t("down_more", { n: num(down.total - down.items.length) })}</p>` : ""}`,
      );
      render($("#incidents", main), incidentList(incidents.items));
    },
  };
}

function incidentList(items) {
  if (!items.length) return html`<p>${t("incidents_none")}</p>`;
  return html`<ul class="incident-list">${items.map(
    (i) => html`<li data-incident="${i.id}"><a href="#/incidents/open">#${i.id} ${t(`kind_${i.kind}`)}</a>
      — ${i.unit_name ?? t("none")} · ${t("cameras_n", { n: i.camera_ids.length })} · ${i18n.dateTime(i.opened_at)}
      ${i.acknowledged_by ? html`<span class="ack">✓ ${t("acknowledged")}</span>` : ""}</li>`,
  )}</ul>`;
}

// ---- one unit ----------------------------------------------------------------------------------------------

function unitView(main, unitSet, code) {
  let window_ = "24h";
  let stateFilter = "";
  render(
    main,
    html`<p><a href="#/">${t("back")}</a></p>
      <h1 id="page-title">${code}</h1>
      <section class="kpis" id="kpis" aria-labelledby="page-title"><p>${t("loading")}</p></section>
      <div class="columns">
      <section aria-labelledby="avail-h">
        <div class="section-head">
          <h2 id="avail-h">${t("availability_chart")}</h2>
          <div class="segmented" role="group" aria-label="${t("period")}">
            ${["24h", "7d", "30d"].map((w) => html`<button type="button" data-window="${w}" aria-pressed="${w === window_}">${t(`window_${w}`)}</button>`)}
          </div>
        </div>
        <div class="chart"><canvas id="avail-chart" role="img" aria-label="${t("availability_chart")}"></canvas></div>
        <details><summary>${t("chart_table")}</summary><div id="avail-table" class="table-wrap" tabindex="0"></div></details>
      </section>
      <section aria-labelledby="eng-h">
        <h2 id="eng-h">${t("engagement_heading")}</h2>
        <div id="engagement" class="kpis"></div>
        <div class="chart"><canvas id="dau-chart" role="img" aria-label="${t("dau_chart")}"></canvas></div>
        <details><summary>${t("chart_table")}</summary><div id="dau-table" class="table-wrap" tabindex="0"></div></details>
      </section>
      </div>
      <section aria-labelledby="cams-h">
        <div class="section-head">
          <h2 id="cams-h">${t("cameras_heading", { n: "…" })}</h2>
          <label>${t("filter_state")}
            <select id="state-filter"><option value="">${t("all_states")}</option>
              ${STATES.map((s) => html`<option value="${s}">${t(`state_${s}`)}</option>`)}</select></label>
        </div>
        <div id="cameras" class="table-wrap" tabindex="0"></div>
      </section>
      <section aria-labelledby="devs-h" id="devices-section" hidden>
        <h2 id="devs-h">${t("devices_heading")}</h2>
        <div id="devices" class="table-wrap" tabindex="0"></div>
      </section>`,
  );
  const loadSeries = async () => {
    const series = await api("/api/v1/uptime/series", { params: { unit_set: unitSet, unit: code, window: window_ } });
    const hourly = window_ === "24h";
    const labels = series.items.map((b) => i18n.bucketLabel(b.from, hourly));
    lineChart($("#avail-chart", main), {
      labels,
      percent: true,
      series: [{ label: t("availability"), values: series.items.map((b) => b.availability), color: "#0b6e4f" }],
    });
    render(
      $("#avail-table", main),
      html`<table><thead><tr><th scope="col">${t("period")}</th><th scope="col">${t("availability")}</th><th scope="col">${t("coverage")}</th></tr></thead>
        <tbody>${series.items.map((b, i) => html`<tr><td>${labels[i]}</td><td>${pct(b.availability)}</td><td>${pct(b.coverage)}</td></tr>`)}</tbody></table>`,
    );
  };
  const loadEngagement = async () => {
    const month = await api("/api/v1/engagement", { params: { unit_set: unitSet } });
    const e = month.items.find((i) => i.unit_code === code);
    if (e) {
      render(
        $("#engagement", main),
        html`${kpi(t("mau"), num(e.mau))}${kpi(t("dau_avg"), num(e.dau_avg, 1))}${kpi(t("stickiness"), pct(e.stickiness))}
          ${kpi(t("new_users"), num(e.new))}${kpi(t("returning"), num(e.returning))}
          ${kpi(t("adoption"), pct(e.adoption), html`<div class="kpi-note">${t("population")}: ${e.population === null ? t("population_missing") : num(e.population)}</div>`)}
          ${kpi(t("feedback"), num(e.feedback_submitted))}`,
      );
    }
    const daily = await api("/api/v1/engagement/daily", { params: { unit_set: unitSet, unit: code } });
    const days = fillDays(daily.from, daily.to, daily.items);
    lineChart($("#dau-chart", main), {
      labels: days.map((d) => i18n.dayLabel(d.day)),
      series: [{ label: t("dau"), values: days.map((d) => d.dau), color: "#1f5fa8" }],
    });
    render(
      $("#dau-table", main),
      html`<table><thead><tr><th scope="col">${t("day")}</th><th scope="col">${t("dau")}</th></tr></thead>
        <tbody>${days.map((d) => html`<tr><td>${i18n.dayLabel(d.day)}</td><td>${num(d.dau)}</td></tr>`)}</tbody></table>`,
    );
  };
  $$("[data-window]", main).forEach((button) =>
    button.addEventListener("click", async () => {
      window_ = button.dataset.window;
      $$("[data-window]", main).forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      await loadSeries().catch(setStatus);
    }),
  );
  const view = {
    async refresh(n) {
      const [units, cameras, devices] = await Promise.all([
        api("/api/v1/units", { params: { unit_set: unitSet } }),
        api("/api/v1/cameras", { params: { unit_set: unitSet, unit: code, limit: 10000 } }),
        api("/api/v1/devices", { params: { unit_set: unitSet, unit: code } }),
      ]);
      const u = units.items.find((i) => i.unit_code === code);
      if (!u) throw new ApiError(403, t("forbidden"));
      $("#page-title", main).textContent = u.unit_name;
      document.title = `${u.unit_name} · ${t("app_name")}`;
      render(
        $("#kpis", main),
        html`${kpi(t("kpi_cameras"), num(u.cameras_total))}${kpi(t("kpi_up"), num(u.cameras_up))}
          ${kpi(t("kpi_down"), num(u.cameras_down))}${kpi(t("kpi_degraded"), num(u.cameras_degraded))}
          ${kpi(t("kpi_unknown"), num(u.cameras_unknown))}
          ${kpi(t("kpi_avail_today"), pct(u.availability_today), bandBadge(u.availability_today))}
          ${kpi(t("kpi_avail_month"), pct(u.availability_month), bandBadge(u.availability_month))}
          ${kpi(t("kpi_mau"), num(u.mau_month), u.population_note ? html`<div class="kpi-note">${t("population")}: ${u.population_note}</div>` : "")}`,
      );
      const order = (c) => STATES.indexOf(c.state);
      const shown = cameras.items
        .filter((c) => !stateFilter || c.state === stateFilter)
        .sort((a, b) => order(a) - order(b) || a.camera_id.localeCompare(b.camera_id));
      $("#cams-h", main).textContent = t("cameras_heading", { n: num(shown.length) });
      render(
        $("#cameras", main),
        html`<table class="cameras"><thead><tr><th scope="col">${t("camera")}</th><th scope="col">${t("state")}</th>
          <th scope="col">${t("last_seen")}</th><th scope="col">${t("quality")}</th><th scope="col">${t("picture")}</th></tr></thead>
          <tbody>${shown.map(
            (c) => html`<tr data-camera="${c.camera_id}" data-state="${c.state}">
              <td><span class="mono">${c.camera_id}</span><br><small>${c.name}</small></td>
              <td>${stateBadge(c.state)}</td><td>${i18n.dateTime(c.last_seen)}</td><td>${qualityText(c)}</td>
              <td>${c.has_stream
                ? html`<img class="thumb" data-thumb src="/api/v1/cameras/${encodeURIComponent(c.camera_id)}/snapshot" width="96" height="54" loading="lazy" alt="${t("picture_of", { id: c.camera_id })}">`
                : t("none")}</td></tr>`,
          )}</tbody></table>`,
      );
      $("#devices-section", main).hidden = devices.items.length === 0;
      render(
        $("#devices", main),
        html`<table class="devices"><thead><tr><th scope="col">${t("device")}</th><th scope="col">${t("connection")}</th>
          <th scope="col">${t("since")}</th><th scope="col">${t("last_error")}</th></tr></thead>
          <tbody>${devices.items.map(
            (d) => html`<tr data-device="${d.name}" data-device-state="${d.state}">
              <td><span class="mono">${d.name}</span><br><small>${t(`device_kind_${d.kind}`)} · ${t("channels_n", { n: d.channels.length })}</small></td>
              <td>${deviceBadge(d.state)}</td><td>${i18n.dateTime(d.state_since)}</td><td>${d.last_error ?? t("none")}</td></tr>`,
          )}</tbody></table>`,
      );
      $$("img[data-thumb]", main).forEach((img) =>
        img.addEventListener("error", () => img.replaceWith(document.createTextNode(t("no_picture"))), { once: true }),
      );
      if (n % SLOW_EVERY === 0) await Promise.all([loadSeries(), loadEngagement()]);
    },
  };
  $("#state-filter", main).addEventListener("change", (event) => {
    stateFilter = event.target.value;
    view.refresh(1).catch(setStatus);
  });
  return view;
}

// ---- incidents ---------------------------------------------------------------------------------------------

function incidentsView(main, tab) {
  render(
    main,
    html`<h1 id="page-title">${t("incidents_title")}</h1>
      <nav class="tabs" aria-label="${t("incidents_title")}">
        ${["open", "resolved"].map((s) => html`<a href="#/incidents/${s}" ${s === tab ? raw('aria-current="page"') : ""}>${t(`tab_${s}`)}</a>`)}
      </nav>
      <p id="ack-message" role="status" class="note"></p>
      <div id="incident-table" class="table-wrap" tabindex="0"></div>
      <dialog id="ack-dialog" aria-labelledby="ack-title">
        <form method="dialog" id="ack-form">
          <h2 id="ack-title">${t("ack_button")}</h2>
          <label for="ack-note">${t("ack_note")}</label>
          <textarea id="ack-note" maxlength="500" rows="3"></textarea>
          <div class="actions"><button type="submit" class="primary">${t("ack_confirm")}</button>
            <button type="button" id="ack-cancel">${t("cancel")}</button></div>
        </form>
      </dialog>`,
  );
  const dialog = $("#ack-dialog", main);
  let pending = null;
  const view = {
    async refresh() {
      const data = await api("/api/v1/incidents", { params: { status: tab, limit: 200 } });
      render(
        $("#incident-table", main),
        data.items.length === 0
          ? html`<p>${t("incidents_none")}</p>`
          : html`<table><thead><tr><th scope="col">#</th><th scope="col">${t("kind")}</th><th scope="col">${t("unit")}</th>
              <th scope="col">${t("camera")}</th><th scope="col">${t("opened_at")}</th>
              ${tab === "resolved" ? html`<th scope="col">${t("resolved_at")}</th>` : ""}<th scope="col">${t("duration")}</th>
              <th scope="col">${t("acknowledged")}</th></tr></thead>
            <tbody>${data.items.map(
              (i) => html`<tr data-incident="${i.id}"><td>${i.id}</td><td>${t(`kind_${i.kind}`)}</td><td>${i.unit_name ?? t("none")}</td>
                <td>${i.camera_ids.length > 3 ? t("cameras_n", { n: num(i.camera_ids.length) }) : html`<span class="mono">${i.camera_ids.join(", ")}</span>`}</td>
                <td>${i18n.dateTime(i.opened_at)}</td>
                ${tab === "resolved" ? html`<td>${i18n.dateTime(i.resolved_at)}${i.resolution && i18n.has(`resolution_${i.resolution}`) ? html`<br><small>${t(`resolution_${i.resolution}`)}</small>` : ""}</td>` : ""}
                <td>${i18n.duration(i.opened_at, i.resolved_at ?? serverNow().toISOString())}</td>
                <td>${i.acknowledged_by
                  ? html`<span class="ack">✓ ${t("ack_by", { who: i.acknowledged_by, t: i18n.dateTime(i.acknowledged_at) })}</span>${i.ack_note ? html`<br><small>${i.ack_note}</small>` : ""}`
                  : canAcknowledge(i)
                    ? html`<button type="button" class="primary" data-ack="${i.id}">${t("ack_button")}</button>`
                    : t("not_acknowledged")}</td></tr>`,
            )}</tbody></table>`,
      );
    },
  };
  main.addEventListener("click", (event) => {
    const button = event.target.closest("[data-ack]");
    if (!button) return;
    pending = Number(button.dataset.ack);
    $("#ack-note", main).value = "";
    dialog.showModal();
  });
  $("#ack-cancel", main).addEventListener("click", () => dialog.close());
  $("#ack-form", main).addEventListener("submit", async () => {
    const id = pending;
    try {
      await api(`/api/v1/incidents/${id}/ack`, { method: "POST", body: { note: $("#ack-note", main).value } });
      $("#ack-message", main).textContent = t("ack_done", { id });
      await view.refresh();
    } catch (error) {
      $("#ack-message", main).textContent = t("error", { e: error.message });
    }
  });
  return view;
}

// ---- engagement --------------------------------------------------------------------------------------------

function engagementView(main) {
  let month = localMonth();
  let sortKey = "mau";
  render(
    main,
    html`<h1 id="page-title">${t("engagement_title")}</h1>
      <div class="section-head">
        <label>${t("month")} <select id="month">${lastMonths(month, 24).map((m) => html`<option value="${m}">${i18n.monthLabel(m)}</option>`)}</select></label>
      </div>
      <section aria-labelledby="district-h"><h2 id="district-h">${t("district")}</h2><div id="district" class="kpis"></div></section>
      <section aria-labelledby="trend-h"><h2 id="trend-h">${t("dau_trend")}</h2>
        <div class="chart"><canvas id="trend-chart" role="img" aria-label="${t("dau_trend")}"></canvas></div>
        <details><summary>${t("chart_table")}</summary><div id="trend-table" class="table-wrap" tabindex="0"></div></details></section>
      <section aria-labelledby="rank-h">
        <div class="section-head"><h2 id="rank-h">${t("ranking")}</h2>
          <label>${t("sort_by")} <select id="sort">
            ${["mau", "adoption", "dau_avg", "new", "feedback_submitted"].map((k) => html`<option value="${k}">${t({ mau: "mau", adoption: "adoption", dau_avg: "dau_avg", new: "new_users", feedback_submitted: "feedback" }[k])}</option>`)}
          </select></label></div>
        <div id="ranking" class="table-wrap" tabindex="0"></div></section>`,
  );
  const view = {
    async refresh(n) {
      if (n % SLOW_EVERY !== 0) return;
      const data = await api("/api/v1/engagement", { params: { ...unitSetParams(), month } });
      const d = data.district;
      render(
        $("#district", main),
        d
          ? html`${kpi(t("mau"), num(d.mau))}${kpi(t("dau_avg"), num(d.dau_avg, 1))}${kpi(t("stickiness"), pct(d.stickiness))}
              ${kpi(t("new_users"), num(d.new))}${kpi(t("returning"), num(d.returning))}${kpi(t("adoption"), pct(d.adoption))}
              ${kpi(t("feedback"), num(d.feedback_submitted))}`
          : html`<p class="note">${t("district_hidden")}</p>`,
      );
      const ranked = [...data.items].sort((a, b) => (b[sortKey] ?? -1) - (a[sortKey] ?? -1));
      const top = Math.max(...ranked.map((r) => r[sortKey] ?? 0), 0);
      render(
        $("#ranking", main),
        html`<table><thead><tr><th scope="col">${t("rank")}</th><th scope="col">${t("unit")}</th><th scope="col">${t("mau")}</th>
          <th scope="col">${t("dau_avg")}</th><th scope="col">${t("adoption")}</th><th scope="col">${t("new_users")}</th>
          <th scope="col">${t("feedback")}</th></tr></thead>
          <tbody>${ranked.map(
            (r, i) => html`<tr data-unit="${r.unit_code}"><td>${i + 1}</td>
              <td><a href="#/unit/${data.unit_set}/${r.unit_code}">${r.unit_name}</a>
                <meter min="0" max="${top || 1}" value="${r[sortKey] ?? 0}" aria-hidden="true"></meter></td>
              <td>${num(r.mau)}</td><td>${num(r.dau_avg, 1)}</td>
              <td>${pct(r.adoption)}${r.population === null ? html`<br><small>${t("population")}: ${t("population_missing")}</small>` : ""}</td>
              <td>${num(r.new)}</td><td>${num(r.feedback_submitted)}</td></tr>`,
          )}</tbody></table>`,
      );
      const scope = session.me.units === null ? {} : { unit: data.items[0]?.unit_code };
      if (session.me.units !== null && !scope.unit) return;
      const to = isoDay(new Date(serverNow().getTime() + 86400000));
      const from = isoDay(new Date(serverNow().getTime() - 89 * 86400000));
      const daily = await api("/api/v1/engagement/daily", { params: { ...unitSetParams(), ...scope, from, to } });
      const days = fillDays(daily.from, daily.to, daily.items);
      lineChart($("#trend-chart", main), {
        labels: days.map((x) => i18n.dayLabel(x.day)),
        series: [{ label: t("dau"), values: days.map((x) => x.dau), color: "#1f5fa8" }],
      });
      render(
        $("#trend-table", main),
        html`<table><thead><tr><th scope="col">${t("day")}</th><th scope="col">${t("dau")}</th></tr></thead>
          <tbody>${days.map((x) => html`<tr><td>${i18n.dayLabel(x.day)}</td><td>${num(x.dau)}</td></tr>`)}</tbody></table>`,
      );
    },
  };
  $("#month", main).addEventListener("change", (event) => {
    month = event.target.value;
    view.refresh(0).catch(setStatus);
  });
  $("#sort", main).addEventListener("change", (event) => {
    sortKey = event.target.value;
    view.refresh(0).catch(setStatus);
  });
  return view;
}

// ---- reports ----------------------------------------------------------------------------------------------

const REPORT_FORMATS = ["xlsx", "pdf", "docx", "csv"];

function reportsView(main) {
  const thisMonth = localMonth();
  const months = lastMonths(thisMonth, 25).slice(1); // finished months first; this month is at the end
  render(
    main,
    html`<h1 id="page-title">${t("reports_title")}</h1>
      <section aria-labelledby="new-h">
        <h2 id="new-h">${t("reports_intro")}</h2>
        <div class="section-head">
          <label>${t("report_month")} <select id="report-month">
            ${[...months, thisMonth].map((m) => html`<option value="${m}" ${m === months[0] ? raw("selected") : ""}>${i18n.monthLabel(m)}</option>`)}
          </select></label>
          <label>${t("report_lang")} <select id="report-lang">
            <option value="vi">${t("lang_vi")}</option><option value="en">${t("lang_en")}</option></select></label>
        </div>
        <ul class="downloads" id="downloads"></ul>
      </section>
      <section aria-labelledby="kept-h"><h2 id="kept-h">${t("kept_heading")}</h2>
        <p class="note">${t("kept_note")}</p><div id="kept" class="table-wrap" tabindex="0"></div></section>`,
  );
  const links = () => {
    const params = new URLSearchParams({
      month: $("#report-month", main).value, unit_set: session.unitSet, lang: $("#report-lang", main).value,
    });
    render(
      $("#downloads", main),
      REPORT_FORMATS.map((f) => {
        params.set("format", f);
        return html`<li><a class="button" data-format="${f}" download href="/api/v1/reports/monthly?${params.toString()}">${t("download")}: ${t(`format_${f}`)}</a></li>`;
      }),
    );
  };
  $("#report-month", main).addEventListener("change", links);
  $("#report-lang", main).addEventListener("change", links);
  links();
  return {
    async refresh(n) {
      if (n % SLOW_EVERY !== 0) return;
      const kept = await api("/api/v1/reports");
      render(
        $("#kept", main),
        kept.items.length === 0
          ? html`<p>${t("kept_none")}</p>`
          : html`<table><thead><tr><th scope="col">${t("report_month")}</th><th scope="col">${t("unit_set")}</th>
              <th scope="col">${t("issued_at")}</th><th scope="col">${t("kind")}</th><th scope="col">${t("download")}</th></tr></thead>
            <tbody>${kept.items.map(
              (r) => html`<tr data-report="${r.id}"><td>${i18n.monthLabel(r.month)}</td><td>${unitSetLabel(r.unit_set)}</td>
                <td>${i18n.dateTime(r.issued_at)}</td><td>${t(r.scheduled ? "scheduled" : "on_request")}</td>
                <td>${REPORT_FORMATS.map((f) => html`<a download href="/api/v1/reports/${r.id}?format=${f}">${f.toUpperCase()}</a> `)}</td></tr>`,
            )}</tbody></table>`,
      );
    },
  };
}

// ---- log-in, shell and routing -----------------------------------------------------------------------------

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
        ${navItem("#/", "nav_overview")}${navItem("#/incidents", "nav_incidents")}${navItem("#/engagement", "nav_engagement")}
        ${me.units === null ? navItem("#/reports", "nav_reports") : ""}
      </nav>
      <div class="controls">
        <label>${t("unit_set")} <select id="unit-set">${me.unit_sets.map((s) => html`<option value="${s}" ${s === session.unitSet ? raw("selected") : ""}>${unitSetLabel(s)}</option>`)}</select></label>
        <button type="button" id="lang" aria-label="${t("language_label")}" lang="${i18n.getLang() === "vi" ? "en" : "vi"}">${t("language")}</button>
        <span class="user" id="user">${me.username} · ${t(`role_${me.role}`)}</span>
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
    await api("/api/v1/session", { method: "DELETE" }).catch(() => null);
    session.me = null;
    setCsrf(null);
    route_();
  });
}

function route_() {
  clearInterval(timer);
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
  shell();
  const hash = window.location.hash || "#/";
  let m;
  if (hash === "#/" || hash === "#") current = overviewView(fresh);
  else if ((m = hash.match(/^#\/unit\/([\w-]+)\/([\w-]+)$/))) current = unitView(fresh, m[1], m[2]);
  else if ((m = hash.match(/^#\/incidents(?:\/(open|resolved))?$/))) current = incidentsView(fresh, m[1] ?? "open");
  else if (hash === "#/engagement") current = engagementView(fresh);
  else if (hash === "#/reports" && session.me.units === null) current = reportsView(fresh);
  else render(fresh, html`<h1 id="page-title">${t("not_found")}</h1><p><a href="#/">${t("back")}</a></p>`);
  const title = $("#page-title", fresh);
  if (title && !hash.startsWith("#/unit/")) document.title = `${title.textContent} · ${t("app_name")}`;
  if (!current) return;
  tick = 0;
  const run = async () => {
    const view = current;
    try {
      await view.refresh(tick++);
      if (view === current) setStatus(null);
    } catch (error) {
      if (view !== current) return;
      if (error instanceof ApiError && (error.status === 403 || error.status === 404) && tick === 1) showError(fresh, error);
      else setStatus(error);
    }
  };
  run();
  timer = setInterval(run, REFRESH_MS);
}

async function start(me) {
  session.me = me;
  session.clockOffset = Date.parse(me.now) - Date.now();
  setCsrf(me.csrf_token ?? null);
  i18n.setTimeZone(me.timezone);
  const saved = localStorage.getItem("pulse.unitSet");
  session.unitSet = me.unit_sets?.includes(saved) ? saved : me.unit_set;
  if (!me.unit_sets) session.me = { ...(await api("/api/v1/me")), ...me };
  route_();
}

whenUnauthorized(() => {
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
api("/api/v1/me")
  .then(start)
  .catch(() => route_());
if (!chartsAvailable()) document.body.classList.add("no-charts");
