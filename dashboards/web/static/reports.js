// Reports (`#/reports`): download links for a month's briefing in each format and language — of the whole unit
// set (province or district accounts) or of one unit (its own briefing, for its committee: any account that may
// read that unit) — and, for whole-set accounts, the table of reports already issued.

import { api } from "./api.js";
import { $, html, raw, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { lastMonths, unitSetLabel } from "./format.js";
import { SLOW_EVERY, localMonth, session } from "./session.js";

const { t } = i18n;

const REPORT_FORMATS = ["xlsx", "pdf", "docx", "csv"];

export function reportsView(main) {
  const whole = session.me.units === null; // may read every unit: the set's briefing and the kept ones
  const thisMonth = localMonth();
  const months = lastMonths(thisMonth, 25).slice(1); // finished months first; this month is at the end
  render(
    main,
    html`<h1 id="page-title">${t("reports_title")}</h1>
      <section aria-labelledby="new-h">
        <h2 id="new-h">${t("reports_intro")}</h2>
        <div class="section-head">
          <label>${t("report_unit")} <select id="report-unit">
            ${whole ? html`<option value="">${t("report_whole_set")}</option>` : ""}</select></label>
          <label>${t("report_month")} <select id="report-month">
            ${[...months, thisMonth].map((m) => html`<option value="${m}" ${m === months[0] ? raw("selected") : ""}>${i18n.monthLabel(m)}</option>`)}
          </select></label>
          <label>${t("report_lang")} <select id="report-lang">
            <option value="vi">${t("lang_vi")}</option><option value="en">${t("lang_en")}</option></select></label>
        </div>
        <ul class="downloads" id="downloads"></ul>
      </section>
      ${whole
        ? html`<section aria-labelledby="kept-h"><h2 id="kept-h">${t("kept_heading")}</h2>
            <p class="note">${t("kept_note")}</p><div id="kept" class="table-wrap" tabindex="0"></div></section>`
        : ""}`,
  );
  const links = () => {
    const params = new URLSearchParams({
      month: $("#report-month", main).value, unit_set: session.unitSet, lang: $("#report-lang", main).value,
    });
    const unit = $("#report-unit", main).value;
    if (unit) params.set("unit", unit);
    render(
      $("#downloads", main),
      REPORT_FORMATS.map((f) => {
        params.set("format", f);
        return html`<li><a class="button" data-format="${f}" download href="/api/v1/reports/monthly?${params.toString()}">${t("download")}: ${t(`format_${f}`)}</a></li>`;
      }),
    );
  };
  $("#report-unit", main).addEventListener("change", links);
  $("#report-month", main).addEventListener("change", links);
  $("#report-lang", main).addEventListener("change", links);
  links();
  return {
    async refresh(n) {
      if (n % SLOW_EVERY !== 0) return;
      if (n === 0) {
        // The units this account may read, by name (a unit's own briefing); kept while the page is open. The
        // element is taken before the wait: if the view was left meanwhile, the answer lands nowhere.
        const select = $("#report-unit", main);
        const { items } = await api("/api/v1/units", { params: { unit_set: session.unitSet } });
        const names = items.map((u) => [u.unit_code, u.unit_name]).sort((a, b) => a[1].localeCompare(b[1], "vi"));
        render(select, [
          whole ? html`<option value="">${t("report_whole_set")}</option>` : "",
          names.map(([code, name]) => html`<option value="${code}">${name} (${code})</option>`),
        ]);
        links();
      }
      if (!whole) return;
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
