// The overview (`#/`): the district's (or the commune's, or the province's) KPIs, a tile per unit, the cameras down
// now and the open incidents. A district's 37 communes are one grid; a province's 166 units come in collapsible
// groups by former district, worst first (unitlist.js), with a search that ignores diacritics and a state filter.

import { api, read } from "./api.js";
import { $, html, raw, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { band, bandBadge, kpi, stateBadge } from "./format.js";
import { SLOW_EVERY, session, unitSetParams } from "./session.js";
import { FILTERS, fold, groupUnits, matches } from "./unitlist.js";

const { t, num, pct } = i18n;

// The overview's first reads (the tiles, the cameras down, the open incidents) for a unit set: app.js begins them
// beside /me when the page opens on the overview.
export function overviewReads(unitSet) {
  return [
    ["/api/v1/units", { unit_set: unitSet }],
    ["/api/v1/cameras", { unit_set: unitSet, state: "down", limit: 15 }],
    ["/api/v1/incidents", { status: "open", limit: 15 }],
  ];
}

export function overviewView(main) {
  render(
    main,
    html`<h1 id="page-title">${t("nav_overview")}</h1>
      <div class="overview">
      <section aria-labelledby="page-title" class="kpis" id="kpis"><p>${t("loading")}</p></section>
      <section aria-labelledby="units-h" class="units">
        <div class="section-head"><h2 id="units-h">${t("units_heading")}</h2>
          <div class="unit-tools" id="unit-tools" hidden>
            <span class="tool"><label for="unit-q">${t("unit_search")}</label>
              <input type="search" id="unit-q" autocomplete="off" spellcheck="false" placeholder="${t("unit_search_example")}"></span>
            <span class="tool"><label for="unit-filter">${t("unit_filter")}</label>
              <select id="unit-filter">${Object.keys(FILTERS).map((f) => html`<option value="${f}">${t(`unit_filter_${f}`)}</option>`)}</select></span>
          </div></div>
        <p class="note">${t("units_heading_note")}. ${t("legend")}</p>
        <p class="note" id="groups-note"></p>
        <p class="count" id="unit-count" role="status"></p>
        <div id="tiles"></div>
      </section>
      <div class="columns">
        <section aria-labelledby="down-h"><h2 id="down-h">${t("down_now")}</h2><div id="down"></div></section>
        <section aria-labelledby="inc-h"><h2 id="inc-h">${t("open_incidents")}</h2><div id="incidents"></div></section>
      </div></div>`,
  );
  let mau = null;
  let last = null; // the last /units answer, drawn again when the search or the filter changes
  const chosen = new Map(); // group key -> open, for the groups the operator opened or closed by hand

  function drawUnits() {
    if (!last) return;
    const items = last.items;
    const query = fold($("#unit-q", main).value);
    const filter = $("#unit-filter", main).value;
    const narrowed = query !== "" || filter !== "all";
    const shown = items.filter((u) => matches(u, query, filter));
    $("#unit-tools", main).hidden = items.length < 2;
    render(
      $("#unit-count", main),
      narrowed ? (shown.length ? t("units_shown", { n: num(shown.length), total: num(items.length) }) : t("units_no_match")) : "",
    );
    const groups = groupUnits(items);
    render($("#groups-note", main), groups ? t(groups[0].byFormer ? "groups_note_former" : "groups_note_district") : "");
    if (!groups) {
      render($("#tiles", main), html`<ul class="tiles">${shown.map((u) => tile(u, last.unit_set))}</ul>`);
      return;
    }
    render(
      $("#tiles", main),
      groups.map((g) => {
        const units = narrowed ? g.units.filter((u) => matches(u, query, filter)) : g.units;
        if (!units.length) return "";
        // Narrowed: every group with a match is open. Otherwise what the operator chose, else open where cameras
        // are down or degraded now.
        const open = narrowed || (chosen.get(g.key) ?? (g.down > 0 || g.degraded > 0));
        return groupSection(g, units, open, last.unit_set);
      }),
    );
  }

  $("#unit-q", main).addEventListener("input", drawUnits);
  $("#unit-filter", main).addEventListener("change", drawUnits);
  // Only a click on a group's summary (or Enter/Space on it) is the operator's choice; toggles from a redraw are not.
  $("#tiles", main).addEventListener("click", (event) => {
    const summary = event.target.closest("summary");
    const details = summary?.parentElement;
    if (details?.dataset.group !== undefined && !$("#unit-q", main).value.trim() && $("#unit-filter", main).value === "all") {
      chosen.set(details.dataset.group, !details.open);
    }
  });

  return {
    async refresh(n) {
      const district = session.me.units === null;
      const [units, down, incidents] = await Promise.all(overviewReads(session.unitSet).map(([p, q]) => read(p, q)));
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
      last = units;
      drawUnits();
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

function tile(u, unitSet) {
  return html`<li>
    <a class="tile tile-${band(u.availability_today)}" href="#/unit/${unitSet}/${u.unit_code}" data-unit="${u.unit_code}">
      <span class="tile-name">${u.unit_name}</span>
      <span class="tile-figure">${pct(u.availability_today)}</span>
      ${bandBadge(u.availability_today)}
      <span class="tile-line">${t("unit_cameras", { up: num(u.cameras_up), total: num(u.cameras_total) })}</span>
      ${u.cameras_down ? html`<span class="tile-line tile-down">${stateBadge("down")} ${num(u.cameras_down)}</span>` : ""}
      <span class="tile-line">${t("unit_mau", { n: num(u.mau_month) })}</span>
    </a></li>`;
}

// One former district (or district): its name and what is wrong in it on the summary line, its units inside.
function groupSection(g, units, open, unitSet) {
  const name = g.name ?? t(g.byFormer ? "group_none_former" : "group_none_district");
  return html`<details class="group group-${band(g.worst)}" data-group="${g.key}" ${open ? raw("open") : ""}>
    <summary><span class="group-name">${name}</span>
      <span class="group-figures">${t("group_units", { n: num(g.units.length) })} ·
        ${g.cameras ? t("group_up", { up: num(g.up), total: num(g.cameras), p: pct(g.upShare) }) : t("group_no_cameras")}
        ${g.down ? html`· <span class="group-down">${stateBadge("down")} ${num(g.down)}</span>` : ""}
        ${g.degraded ? html`· <span class="group-degraded">${stateBadge("degraded")} ${num(g.degraded)}</span>` : ""}
        · ${g.worst === null ? "" : `${t("group_worst")} `}${bandBadge(g.worst)}</span></summary>
    <ul class="tiles">${units.map((u) => tile(u, unitSet))}</ul>
  </details>`;
}

function incidentList(items) {
  if (!items.length) return html`<p>${t("incidents_none")}</p>`;
  return html`<ul class="incident-list">${items.map(
    (i) => html`<li data-incident="${i.id}"><a href="#/incidents/open">#${i.id} ${t(`kind_${i.kind}`)}</a>
      — ${i.unit_name ?? t("none")} · ${t("cameras_n", { n: i.camera_ids.length })} · ${i18n.dateTime(i.opened_at)}
      ${i.acknowledged_by ? html`<span class="ack">✓ ${t("acknowledged")}</span>` : ""}</li>`,
  )}</ul>`;
}
