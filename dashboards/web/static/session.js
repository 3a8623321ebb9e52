// What the shell and every view share: the signed-in operator and the chosen unit set (set by app.js on log-in,
// on the unit-set switch and on log-out), the server's clock, the refresh cadence, and the status line in the
// footer that views report their refresh errors to.

import { $ } from "./dom.js";
import { clock, t } from "./i18n.js";

export const SLOW_EVERY = 12; // charts and engagement: every 12th refresh (a minute)

export const session = { me: null, unitSet: null, clockOffset: 0 };

export function unitSetParams() {
  return { unit_set: session.unitSet };
}

// The server's clock: months, "today" and open durations are reckoned on it, not on the operator's device.
export function serverNow() {
  return new Date(Date.now() + session.clockOffset);
}

export function localMonth() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: session.me.timezone, year: "numeric", month: "2-digit" })
    .formatToParts(serverNow());
  return `${parts.find((p) => p.type === "year").value}-${parts.find((p) => p.type === "month").value}`;
}

export function setStatus(error) {
  const status = $("#status");
  const line = $("#updated");
  if (error) {
    status.textContent =
      error instanceof TypeError
        ? t("offline")
        : error.status === 503
          ? t("overloaded", { s: Math.round(error.retryInMs / 1000) })
          : t("update_failed", { e: error.message });
    status.hidden = false;
  } else {
    status.hidden = true;
    status.textContent = "";
    line.textContent = t("updated", { t: clock(serverNow()) });
  }
}

// The footer's note on where the figures come from: a read replica behind by more than the server's bound, or the
// primary because the replica does not answer (the header X-Pulse-Reads; nothing when all is well).
export function setReads(value) {
  const note = $("#reads");
  const lag = value?.startsWith("lag=") ? Number(value.slice(4)) : null;
  note.textContent = lag !== null ? t("reads_lag", { s: lag }) : value === "primary" ? t("reads_primary") : "";
  note.hidden = !note.textContent;
}

