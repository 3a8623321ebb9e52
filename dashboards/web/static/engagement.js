// Engagement (`#/engagement`): a month's figures for the district, the daily users over 90 days and the units
// ranked by the chosen figure.

import { api } from "./api.js";
import { lineChart } from "./charts.js";
import { $, html, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { fillDays, isoDay, kpi, lastMonths } from "./format.js";
import { SLOW_EVERY, localMonth, serverNow, session, setStatus, unitSetParams } from "./session.js";

const { t, num, pct } = i18n;

export function engagementView(main) {
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
