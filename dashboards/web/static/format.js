// What several views draw the same way: the state, device and availability badges, a KPI box, a camera's
// picture quality in words, unit-set names, and the month and day lists behind the engagement charts and the
// report picker. Pure: figures in, escaped HTML (dom.js) or plain values out; nothing here calls the API.

import { html } from "./dom.js";
import { num, t } from "./i18n.js";
import { session } from "./session.js";

// Camera states in the order a unit's table lists them (worst first).
export const STATES = ["down", "unknown", "degraded", "up"];
const STATE_ICONS = { up: "●", degraded: "◐", down: "✕", unknown: "?", maintenance: "⚒" };

export function band(availability) {
  if (availability === null || availability === undefined) return "none";
  if (availability >= 0.99) return "good";
  if (availability >= 0.95) return "fair";
  return "poor";
}

export function bandBadge(availability) {
  const b = band(availability);
  const icon = { good: "✓", fair: "!", poor: "✕", none: "–" }[b];
  return html`<span class="band band-${b}"><span aria-hidden="true">${icon}</span> ${t(`band_${b}`)}</span>`;
}

export function stateBadge(state) {
  return html`<span class="state state-${state}"><span aria-hidden="true">${STATE_ICONS[state] ?? "?"}</span> ${t(`state_${state}`)}</span>`;
}

// A device's connection state (SPEC §4), drawn with the camera states' colours and icons.
const DEVICE_LOOK = { connected: "up", connecting: "unknown", auth_failed: "down", unreachable: "down", protocol_error: "degraded" };

export function deviceBadge(state) {
  const look = DEVICE_LOOK[state] ?? "unknown";
  return html`<span class="state state-${look}"><span aria-hidden="true">${STATE_ICONS[look]}</span> ${t(`device_${state}`)}</span>`;
}

export function qualityText(camera) {
  const q = camera.quality;
  if (!q) return t("none");
  const flags = ["black", "frozen", "obstructed"].filter((f) => q[f]).map((f) => t(`q_${f}`));
  if (flags.length) return flags.join(", ");
  // No flag, but the camera (or the prober) said degraded: e.g. a blurred lens, judged on sharpness.
  const verdict = camera.last_status === "degraded" ? t("q_poor") : t("q_ok");
  return typeof q.blur === "number" ? `${verdict} · ${t("q_blur", { v: num(q.blur, 0) })}` : verdict;
}

export function kpi(label, value, extra = "") {
  return html`<div class="kpi"><div class="kpi-value">${value}</div><div class="kpi-label">${label}</div>${extra}</div>`;
}

// A unit set in words: when it was in force and how many units it has ("01/07/2025 – nay · 166 đơn vị").
export function unitSetLabel(set) {
  const info = session.me?.unit_set_info?.find((i) => i.unit_set === set);
  if (!info) return set;
  const day = (iso) => iso.split("-").reverse().join("/"); // 2025-07-01 → 01/07/2025
  const lastDay = (iso) => day(new Date(Date.parse(`${iso}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10));
  const period = info.valid_from
    ? `${day(info.valid_from)} – ${info.valid_to ? lastDay(info.valid_to) : t("unit_set_now")}`
    : info.valid_to
      ? t("unit_set_until", { day: lastDay(info.valid_to) })
      : set;
  return t("unit_set_label", { period, n: num(info.units) });
}

export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// `count` months ending with `month` (YYYY-MM), newest first.
export function lastMonths(month, count) {
  let [y, m] = month.split("-").map(Number);
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push(`${y}-${String(m).padStart(2, "0")}`);
    [y, m] = m === 1 ? [y - 1, 12] : [y, m - 1];
  }
  return out;
}

// Days from..to (exclusive, YYYY-MM-DD) with the API's daily rows, days without activity as 0.
export function fillDays(from, to, rows) {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const out = [];
  for (let d = new Date(`${from}T00:00:00Z`); d < new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
    const day = d.toISOString().slice(0, 10);
    out.push({ day, dau: byDay.get(day)?.dau ?? 0 });
  }
  return out;
}
