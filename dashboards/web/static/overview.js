// The overview (`#/`): the district's (or the commune's) KPIs, a tile per unit, the cameras down now and the
// open incidents.

import { api } from "./api.js";
import { $, html, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { band, bandBadge, kpi, stateBadge } from "./format.js";
import { SLOW_EVERY, session, unitSetParams } from "./session.js";

const { t, num, pct } = i18n;

export function overviewView(main) {
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
