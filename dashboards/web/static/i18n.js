// Every word the dashboard shows, in Vietnamese (the default) and English, and the number/date formats of each.
// Operators read Vietnamese: keep the Vietnamese text first and complete; English mirrors it.

import { EN } from "./strings-en.js";
import { VI } from "./strings-vi.js";

const STRINGS = { vi: VI, en: EN };
const LOCALES = { vi: "vi-VN", en: "en-GB" };
let lang = localStorage.getItem("pulse.lang") === "en" ? "en" : "vi";
let timeZone = "Asia/Ho_Chi_Minh";

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = value === "en" ? "en" : "vi";
  localStorage.setItem("pulse.lang", lang);
  document.documentElement.lang = lang;
}

export function setTimeZone(value) {
  timeZone = value;
}

export function t(key, params = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.vi[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export function has(key) {
  return key in STRINGS[lang];
}

export function num(value, digits = 0) {
  if (value === null || value === undefined) return t("none");
  return new Intl.NumberFormat(LOCALES[lang], { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}

// A fraction 0–1 as a percentage with one decimal (the API gives fractions; null: no denominator).
export function pct(fraction, digits = 1) {
  if (fraction === null || fraction === undefined) return t("none");
  return `${num(fraction * 100, digits)} %`;
}

export function dateTime(iso) {
  if (!iso) return t("never");
  return new Intl.DateTimeFormat(LOCALES[lang], {
    timeZone, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).format(new Date(iso));
}

// The start of a local day (YYYY-MM-DD) in the deployment's zone, as an ISO time with that zone's offset.
export function dayStart(isoDate) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" })
    .formatToParts(new Date(`${isoDate}T12:00:00Z`));
  const name = parts.find((p) => p.type === "timeZoneName").value; // "GMT+07:00", or "GMT" for UTC
  return `${isoDate}T00:00:00${name === "GMT" ? "+00:00" : name.slice(3)}`;
}

export function clock(date) {
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit" })
    .format(date);
}

export function bucketLabel(iso, hourly) {
  const options = hourly ? { hour: "2-digit", minute: "2-digit" } : { day: "2-digit", month: "2-digit" };
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone, ...options }).format(new Date(iso));
}

export function dayLabel(isoDate) {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone: "UTC", day: "2-digit", month: "2-digit" })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

export function monthLabel(month) {
  const [y, m] = month.split("-");
  return lang === "vi" ? `Tháng ${Number(m)}/${y}` : new Intl.DateTimeFormat("en-GB", { month: "long", year: "numeric", timeZone: "UTC" })
    .format(new Date(Date.UTC(Number(y), Number(m) - 1, 1)));
}

export function duration(fromIso, toIso) {
  const seconds = Math.max(0, (new Date(toIso) - new Date(fromIso)) / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return lang === "vi" ? (h ? `${h} giờ ${m} phút` : `${m} phút`) : (h ? `${h} h ${m} min` : `${m} min`);
}
