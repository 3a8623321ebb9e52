// The map (`#/map`, `#/map/<former district>`; issue 18): every unit of the chosen set as a point at its centroid
// (the API's `lat`, `lon`), sized by its cameras and marked by today's availability in colour, icon and words; each
// point a link to the unit's page, which lists its cameras. Drawn here as SVG from the coordinates alone: no tile
// server, no request beyond the API. Drill-down: the province → a former district (the points refitted to it) →
// a commune → its cameras. Points are centroids, not boundaries (none are available offline).

import { api } from "./api.js";
import { $, html, raw, render } from "./dom.js";
import { band } from "./format.js";
import * as i18n from "./i18n.js";
import { unitSetParams } from "./session.js";

const { t, num, pct } = i18n;
const WIDTH = 800; // the SVG's own units; it scales to the page (viewBox)
const PAD = 28; // room for the largest circle and a label at the edges
const R_NONE = 4; // a unit without cameras
const R_MIN = 8; // one camera: room for its icon
const R_MAX = 22; // the unit with most cameras
const LABEL_UNITS = 40; // names are written beside the points when at most this many are shown
const ICONS = { good: "✓", fair: "!", poor: "✕", none: "–" };

// The fitted projection: equirectangular, longitudes shrunk by the cosine of the middle latitude so a
// kilometre is as long across as up; the bounding box of the points fills the width.
export function project(points, pad = PAD) {
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const [s, n, w, e] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const k = Math.cos((((s + n) / 2) * Math.PI) / 180);
  const spanX = Math.max((e - w) * k, 1e-3);
  const spanY = Math.max(n - s, 1e-3);
  const scale = (WIDTH - 2 * pad) / Math.max(spanX, spanY * 0.9); // a tall region does not become a thin strip
  const height = Math.round(spanY * scale + 2 * pad);
  const offsetX = (WIDTH - spanX * scale) / 2;
  return {
    height,
    xy: (p) => [offsetX + (p.lon - w) * k * scale, pad + (n - p.lat) * scale],
  };
}

function radius(cameras, most) {
  if (!cameras) return R_NONE;
  return R_MIN + (R_MAX - R_MIN) * Math.sqrt(cameras / Math.max(most, 1));
}

// A unit's state in words, for its link's name, its tooltip and the panel under the map.
function describe(u) {
  const parts = [u.unit_name, `${t(`band_${band(u.availability_today)}`)} (${pct(u.availability_today)} ${t("map_today")})`];
  parts.push(t("unit_cameras", { up: num(u.cameras_up), total: num(u.cameras_total) }));
  if (u.cameras_down) parts.push(t("map_down_n", { n: num(u.cameras_down) }));
  return parts.join(" · ");
}

// The former district (after the reform) or the district (before it) a unit is drilled into by.
function districtOf(u) {
  return u.former_district_code
    ? { code: u.former_district_code, name: u.former_district_name }
    : u.group_code && u.group_name
      ? { code: u.group_code, name: u.group_name }
      : null;
}

function districts(items) {
  const seen = new Map();
  for (const u of items) {
    const d = districtOf(u);
    if (d && !seen.has(d.code)) seen.set(d.code, d.name);
  }
  const names = new Intl.Collator("vi", { sensitivity: "base" });
  return [...seen].map(([code, name]) => ({ code, name })).sort((a, b) => names.compare(a.name, b.name));
}

// Names beside the points, biggest units first, each where it overlaps no name already written (to the left of its
// point when the right would run off the drawing); the others are read from the point's tooltip and the panel.
function labels(units, xy, sizeOf, fontSize) {
  const out = new Map();
  const boxes = units.map((u) => {
    const [x, y] = xy(u);
    const r = sizeOf(u);
    return { x0: x - r, x1: x + r, y0: y - r, y1: y + r };
  });
  for (const u of [...units].sort((a, b) => b.cameras_total - a.cameras_total)) {
    const [x, y] = xy(u);
    const r = sizeOf(u);
    const w = [...u.unit_name].length * fontSize * 0.56;
    const left = x + r + 3 + w > WIDTH;
    const box = { x0: left ? x - r - 3 - w : x + r + 3, y0: y - fontSize * 0.6, y1: y + fontSize * 0.6 };
    box.x1 = box.x0 + w;
    if (boxes.some((b) => box.x0 < b.x1 && b.x0 < box.x1 && box.y0 < b.y1 && b.y0 < box.y1)) continue;
    boxes.push(box);
    out.set(u.unit_code, { x: left ? x - r - 3 : x + r + 3, y, anchor: left ? "end" : "start" });
  }
  return out;
}

function drawing(set, shown, screenWidth) {
  const placed = shown.filter((u) => u.lat !== null && u.lat !== undefined && u.lon !== null && u.lon !== undefined);
  if (!placed.length) return html`<p class="note">${t("map_no_places")}</p>`;
  // On a narrow screen the drawing shrinks: points and names grow in its units to stay legible and tappable.
  const zoom = Math.min(Math.max((WIDTH / Math.max(screenWidth, 1)) * 0.6, 1), 1.6);
  const { height, xy } = project(placed, PAD * zoom);
  const most = Math.max(...placed.map((u) => u.cameras_total));
  const fontSize = Math.max(12, (11 * WIDTH) / Math.max(screenWidth, 1));
  const sizeOf = (u) => radius(u.cameras_total, most) * zoom;
  const named = placed.length <= LABEL_UNITS ? placed : placed.filter((u) => u.cameras_total > 0);
  const names = named.length <= LABEL_UNITS ? labels(named, xy, sizeOf, fontSize) : new Map();
  // Small points over big ones, so every one stays clickable; units with cameras down on top of their equals.
  const order = [...placed].sort((a, b) => b.cameras_total - a.cameras_total || (a.cameras_down > 0) - (b.cameras_down > 0));
  return html`<svg class="map" viewBox="0 0 ${WIDTH} ${height}" role="group" aria-labelledby="map-h"
      data-points="${placed.length}">
    ${order.map((u) => {
      const [x, y] = xy(u).map((v) => v.toFixed(1));
      const r = sizeOf(u);
      const b = band(u.availability_today);
      const words = describe(u);
      const icon = u.cameras_total ? html`<text class="map-icon" x="${x}" y="${y}" font-size="${(r * 1.05).toFixed(1)}" aria-hidden="true">${ICONS[b]}</text>` : "";
      const label = names.get(u.unit_code);
      const name = label
        ? html`<text class="map-name" x="${label.x.toFixed(1)}" y="${y}" text-anchor="${label.anchor}" font-size="${fontSize.toFixed(1)}" aria-hidden="true">${u.unit_name}</text>`
        : "";
      return html`<a href="#/unit/${set}/${u.unit_code}" class="map-point map-${b}${u.cameras_down ? " map-has-down" : ""}"
          data-unit="${u.unit_code}" data-band="${b}" aria-label="${words}">
        <title>${words}</title>
        <circle cx="${x}" cy="${y}" r="${r.toFixed(1)}"></circle>${icon}${name}</a>`;
    })}
  </svg>`;
}

function legend() {
  const item = (b, text) =>
    html`<li><span class="map-key map-${b}" aria-hidden="true">${ICONS[b]}</span> ${t(`band_${b}`)}${text ? ` — ${text}` : ""}</li>`;
  return html`<ul class="map-legend">
    ${item("good", "≥ 99 %")}${item("fair", "95–99 %")}${item("poor", "< 95 %")}${item("none", "")}
    <li><span class="map-key map-key-down" aria-hidden="true"></span> ${t("map_legend_down")}</li>
    <li>${t("map_legend_size")}</li></ul>`;
}

export function mapView(main, districtCode = null) {
  render(
    main,
    html`<h1 id="page-title">${t("map_title")}</h1>
      <section aria-labelledby="map-h" class="map-section">
        <div class="section-head">
          <h2 id="map-h"></h2>
          <label>${t("map_district")} <select id="map-district"></select></label>
        </div>
        <p class="note">${t("map_note")}</p>
        <div id="map-drawing"><p>${t("loading")}</p></div>
        <p id="map-info" class="map-info" aria-live="polite">${t("map_hint")}</p>
        <div id="map-legend">${legend()}</div>
      </section>
      <section aria-labelledby="unplaced-h" id="unplaced" hidden>
        <h2 id="unplaced-h">${t("map_unplaced")}</h2><ul id="unplaced-list" class="map-unplaced"></ul>
      </section>`,
  );
  $("#map-district", main).addEventListener("change", (event) => {
    window.location.hash = event.target.value ? `#/map/${event.target.value}` : "#/map";
  });
  const info = $("#map-info", main);
  const tell = (event) => {
    const point = event.target.closest?.("a.map-point");
    if (point) info.textContent = point.getAttribute("aria-label");
  };
  main.addEventListener("focusin", tell);
  main.addEventListener("mouseover", tell);
  return {
    async refresh() {
      const units = await api("/api/v1/units", { params: unitSetParams() });
      const all = districts(units.items);
      const current = all.find((d) => d.code === districtCode) ?? null;
      const shown = current ? units.items.filter((u) => districtOf(u)?.code === current.code) : units.items;
      $("#map-h", main).textContent = current
        ? t("map_heading_district", { name: current.name, n: num(shown.length) })
        : t("map_heading_all", { n: num(shown.length) });
      render(
        $("#map-district", main),
        html`<option value="">${t("map_all")}</option>${all.map(
          (d) => html`<option value="${d.code}" ${d.code === current?.code ? raw("selected") : ""}>${d.name}</option>`,
        )}`,
      );
      $("#map-district", main).disabled = all.length === 0;
      render($("#map-drawing", main), drawing(units.unit_set, shown, $("#map-drawing", main).clientWidth));
      const unplaced = shown.filter((u) => u.lat === null || u.lat === undefined);
      $("#unplaced", main).hidden = unplaced.length === 0;
      render(
        $("#unplaced-list", main),
        unplaced.map((u) => html`<li><a href="#/unit/${units.unit_set}/${u.unit_code}" data-unit="${u.unit_code}">${describe(u)}</a></li>`),
      );
    },
  };
}
