// One unit (`#/unit/<set>/<code>`): its KPIs, availability over 24 h, 7 or 30 days, this month's engagement
// and daily users, its cameras (filterable by state) and, where it has any, its devices' connections.

import { api, ApiError } from "./api.js";
import { lineChart } from "./charts.js";
import { $, $$, html, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { bandBadge, deviceBadge, fillDays, kpi, qualityText, STATES, stateBadge } from "./format.js";
import { SLOW_EVERY, setStatus } from "./session.js";

const { t, num, pct } = i18n;

export function unitView(main, unitSet, code) {
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
