// The operator's own account (`#/account`): who it is, and a password change (PUT /api/v1/session/password). The
// server checks the policy (at least 12 characters, not a common or breached password: services/core/auth.py) and
// says why a new password is refused; this page only says it in the operator's language. The operator's other
// sessions end with the change; this one stays.

import { api, ApiError } from "./api.js";
import { $, html, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { session } from "./session.js";

const { t } = i18n;

// The server's reason (an English sentence naming the field) as the operator reads it.
export function passwordMessage(error) {
  if (!(error instanceof ApiError)) return t("error", { e: error.message });
  const detail = String(error.detail ?? "");
  if (error.status === 403) return t("password_current_wrong");
  if (detail.includes("at least 12")) return t("password_too_short");
  if (detail.includes("common or breached")) return t("password_too_common");
  return t("error", { e: detail });
}

export function accountView(main) {
  const me = session.me;
  render(
    main,
    html`<h1 id="page-title">${t("account_title")}</h1>
      <p>${me.username} · ${t(`role_${me.role}`)}</p>
      <section aria-labelledby="password-h" class="account">
        <h2 id="password-h">${t("password_change")}</h2>
        <p class="note">${t("password_rules")}</p>
        <form id="password-form" novalidate>
          <label for="current">${t("password_current")}</label>
          <input id="current" type="password" autocomplete="current-password" required maxlength="256">
          <label for="new">${t("password_new")}</label>
          <input id="new" type="password" autocomplete="new-password" required minlength="12" maxlength="256">
          <label for="again">${t("password_again")}</label>
          <input id="again" type="password" autocomplete="new-password" required maxlength="256">
          <p id="password-said" role="status"></p>
          <button type="submit" class="primary">${t("password_save")}</button>
        </form>
      </section>`,
  );
  const said = $("#password-said", main);
  $("#password-form", main).addEventListener("submit", async (event) => {
    event.preventDefault();
    const current = $("#current", main).value;
    const fresh = $("#new", main).value;
    said.className = "error";
    if (fresh !== $("#again", main).value) {
      said.textContent = t("password_mismatch");
      return;
    }
    try {
      await api("/api/v1/session/password", { method: "PUT", body: { current, new: fresh } });
      said.className = "ok";
      said.textContent = t("password_changed");
      event.target.reset();
    } catch (error) {
      said.textContent = passwordMessage(error);
    }
  });
  return { async refresh() {} };
}
