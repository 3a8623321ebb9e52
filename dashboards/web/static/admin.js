// Admins only (issue 31). `#/admin`: who has access — every account and API token — and taking it back: an account
// disabled (its sessions end, its tokens are refused from the next request on) or enabled again, a token revoked.
// Accounts are made, and roles and units set, with `pulse users` on the server. `#/audit`: the audit trail, newest
// first, filtered as `pulse audit list` filters it. Both read and act through the API, which checks the role again.

import { api } from "./api.js";
import { $, html, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { session } from "./session.js";

const { t, num } = i18n;

function when(iso) {
  return iso ? i18n.dateTime(iso) : t("none");
}

function scope(user) {
  if (user.district_code) return t("admin_scope_district", { code: user.district_code });
  return user.units.length ? user.units.map((u) => u.split("/")[1]).join(", ") : t("admin_scope_all");
}

function tokenState(token) {
  if (token.revoked_at) return t("admin_token_revoked", { t: when(token.revoked_at) });
  if (token.expires_at && new Date(token.expires_at) <= new Date()) return t("admin_token_expired", { t: when(token.expires_at) });
  return t("admin_token_active", { t: when(token.expires_at) });
}

export function adminView(main) {
  render(
    main,
    html`<h1 id="page-title">${t("admin_title")}</h1>
      <p class="note">${t("admin_intro")}</p>
      <p id="admin-said" role="status"></p>
      <section aria-labelledby="users-h"><h2 id="users-h">${t("admin_users")}</h2>
        <div id="users" class="table-wrap" tabindex="0"></div></section>
      <section aria-labelledby="tokens-h"><h2 id="tokens-h">${t("admin_tokens")}</h2>
        <div id="tokens" class="table-wrap" tabindex="0"></div></section>`,
  );
  const said = $("#admin-said", main);
  const view = {
    async refresh() {
      const [users, tokens] = await Promise.all([api("/api/v1/users"), api("/api/v1/tokens")]);
      render(
        $("#users", main),
        html`<table><thead><tr><th scope="col">${t("admin_username")}</th><th scope="col">${t("admin_role")}</th>
            <th scope="col">${t("admin_scope")}</th><th scope="col">${t("admin_sessions")}</th>
            <th scope="col">${t("admin_tokens_held")}</th><th scope="col">${t("admin_state")}</th>
            <th scope="col"><span class="visually-hidden">${t("admin_action")}</span></th></tr></thead>
          <tbody>${users.items.map(
            (u) => html`<tr data-user="${u.username}"><td class="mono">${u.username}</td><td>${t(`role_${u.role}`)}</td>
              <td>${scope(u)}</td><td>${num(u.sessions)}</td><td>${num(u.tokens)}</td>
              <td>${u.disabled_at ? html`<span class="state-down">${t("admin_disabled", { t: when(u.disabled_at) })}</span>` : t("admin_active")}</td>
              <td>${u.username === session.me.username
                ? ""
                : u.disabled_at
                  ? html`<button type="button" data-enable="${u.username}">${t("admin_enable")}</button>`
                  : html`<button type="button" class="danger" data-disable="${u.username}">${t("admin_disable")}</button>`}</td></tr>`,
          )}</tbody></table>`,
      );
      render(
        $("#tokens", main),
        tokens.items.length === 0
          ? html`<p>${t("admin_no_tokens")}</p>`
          : html`<table><thead><tr><th scope="col">#</th><th scope="col">${t("admin_username")}</th>
              <th scope="col">${t("admin_label")}</th><th scope="col">${t("admin_token_scope")}</th>
              <th scope="col">${t("admin_created")}</th><th scope="col">${t("admin_last_used")}</th>
              <th scope="col">${t("admin_state")}</th>
              <th scope="col"><span class="visually-hidden">${t("admin_action")}</span></th></tr></thead>
            <tbody>${tokens.items.map(
              (k) => html`<tr data-token="${k.token_id}"><td>${k.token_id}</td><td class="mono">${k.username}</td><td>${k.label}</td>
                <td>${k.read_only ? t("admin_read_only") : t("admin_full")}</td><td>${when(k.created_at)}</td>
                <td>${when(k.last_used_at)}</td><td>${tokenState(k)}</td>
                <td>${k.revoked_at ? "" : html`<button type="button" class="danger" data-revoke="${k.token_id}">${t("admin_revoke")}</button>`}</td></tr>`,
            )}</tbody></table>`,
      );
    },
  };
  main.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-disable], [data-enable], [data-revoke]");
    if (!button) return;
    const { disable, enable, revoke } = button.dataset;
    const [question, path, done] = disable
      ? [t("admin_disable_confirm", { who: disable }), `/api/v1/users/${encodeURIComponent(disable)}/disable`, t("admin_disabled_now", { who: disable })]
      : enable
        ? [null, `/api/v1/users/${encodeURIComponent(enable)}/enable`, t("admin_enabled_now", { who: enable })]
        : [t("admin_revoke_confirm", { id: revoke }), `/api/v1/tokens/${revoke}/revoke`, t("admin_revoked_now", { id: revoke })];
    if (question && !window.confirm(question)) return;
    try {
      await api(path, { method: "POST" });
      said.className = "ack";
      said.textContent = done;
      await view.refresh();
    } catch (error) {
      said.className = "error";
      said.textContent = t("error", { e: error.detail ?? error.message });
    }
  });
  return view;
}

// An audit action as the operator reads it: a known event, or "change · what" for a row's change.
const TABLE_OPS = ["insert", "update", "delete", "truncate"];

export function actionLabel(action) {
  if (i18n.has(`audit_${action}`)) return t(`audit_${action}`);
  const [table, op] = action.split(".");
  if (TABLE_OPS.includes(op) && i18n.has(`audit_table_${table}`)) return `${t(`audit_op_${op}`)} · ${t(`audit_table_${table}`)}`;
  return action;
}

function shown(value) {
  if (value === null || value === undefined) return t("none");
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

// What changed: for a row's update, each column before → after; otherwise what was added, removed or said.
function changes(entry) {
  const before = entry.before ?? {};
  const after = entry.after ?? {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (!keys.length) return "";
  return html`<ul class="changes">${keys.map((k) =>
    html`<li><span class="mono">${k}</span>: ${k in before && entry.before !== null ? html`${shown(before[k])} → ` : ""}${entry.after === null ? t("audit_removed") : shown(after[k])}</li>`,
  )}</ul>`;
}

export function auditView(main) {
  render(
    main,
    html`<h1 id="page-title">${t("audit_title")}</h1>
      <p class="note">${t("audit_intro")}</p>
      <form id="audit-filter" class="filters">
        <label>${t("audit_actor")} <input id="audit-actor" type="search" maxlength="200" placeholder="tinh, cli:, db:"></label>
        <label>${t("audit_action")} <input id="audit-action" type="search" maxlength="200" placeholder="maintenance_windows."></label>
        <label>${t("audit_object")} <input id="audit-object" type="search" maxlength="200" placeholder="operators:7"></label>
        <label>${t("audit_since")} <input id="audit-since" type="date"></label>
        <button type="submit" class="primary">${t("audit_filter")}</button>
      </form>
      <div id="audit" class="table-wrap" tabindex="0"></div>
      <p><button type="button" id="audit-more" hidden>${t("audit_more")}</button></p>`,
  );
  let entries = [];
  let next = null;
  const params = () => ({
    actor: $("#audit-actor", main).value.trim(),
    action: $("#audit-action", main).value.trim(),
    object: $("#audit-object", main).value.trim(),
    since: $("#audit-since", main).value ? i18n.dayStart($("#audit-since", main).value) : "",
    limit: 100,
  });
  const draw = () => {
    render(
      $("#audit", main),
      entries.length === 0
        ? html`<p>${t("audit_none")}</p>`
        : html`<table><thead><tr><th scope="col">${t("audit_at")}</th><th scope="col">${t("audit_actor")}</th>
            <th scope="col">${t("audit_action")}</th><th scope="col">${t("audit_object")}</th>
            <th scope="col">${t("audit_changes")}</th></tr></thead>
          <tbody>${entries.map(
            (e) => html`<tr data-audit="${e.audit_id}"><td>${i18n.dateTime(e.at)}</td>
              <td><span class="mono">${e.actor}</span>${e.token_id ? html`<br><small>${t("audit_token", { id: e.token_id })}</small>` : ""}${e.address ? html`<br><small class="mono">${e.address}</small>` : ""}</td>
              <td>${actionLabel(e.action)}<br><small class="mono">${e.action}</small></td>
              <td class="mono">${e.object_kind}${e.object_id ? `:${e.object_id}` : ""}</td><td>${changes(e)}</td></tr>`,
          )}</tbody></table>`,
    );
    $("#audit-more", main).hidden = next === null;
  };
  const load = async (more) => {
    const data = await api("/api/v1/audit", { params: { ...params(), before: more ? next : null } });
    entries = more ? [...entries, ...data.entries] : data.entries;
    next = data.next_before;
    draw();
  };
  $("#audit-filter", main).addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  $("#audit-more", main).addEventListener("click", () => load(true));
  // The list is read when the page opens and when asked (filter, more): a refresh would lose the pages read.
  load(false);
  return { async refresh() {} };
}
