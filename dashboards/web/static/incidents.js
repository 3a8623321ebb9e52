// Incidents (`#/incidents/open`, `#/incidents/resolved`): the table of either tab, and acknowledging an open
// one (with a note) for those allowed to.

import { api } from "./api.js";
import { $, html, raw, render } from "./dom.js";
import * as i18n from "./i18n.js";
import { serverNow, session } from "./session.js";

const { t, num } = i18n;

function canAcknowledge(incident) {
  const me = session.me;
  if (me.role === "admin") return true;
  // scoped operators (a xã's, a former district's) act in their own units; the API checks again
  if (!["commune", "district"].includes(me.role) || !incident.unit_code) return false;
  return me.units.some((u) => u.unit_set === incident.unit_set && u.unit_code === incident.unit_code);
}


export function incidentsView(main, tab) {
  render(
    main,
    html`<h1 id="page-title">${t("incidents_title")}</h1>
      <nav class="tabs" aria-label="${t("incidents_title")}">
        ${["open", "resolved"].map((s) => html`<a href="#/incidents/${s}" ${s === tab ? raw('aria-current="page"') : ""}>${t(`tab_${s}`)}</a>`)}
      </nav>
      <p id="ack-message" role="status" class="note"></p>
      <div id="incident-table" class="table-wrap" tabindex="0"></div>
      <dialog id="ack-dialog" aria-labelledby="ack-title">
        <form method="dialog" id="ack-form">
          <h2 id="ack-title">${t("ack_button")}</h2>
          <label for="ack-note">${t("ack_note")}</label>
          <textarea id="ack-note" maxlength="500" rows="3"></textarea>
          <div class="actions"><button type="submit" class="primary">${t("ack_confirm")}</button>
            <button type="button" id="ack-cancel">${t("cancel")}</button></div>
        </form>
      </dialog>`,
  );
  const dialog = $("#ack-dialog", main);
  let pending = null;
  const view = {
    async refresh() {
      const data = await api("/api/v1/incidents", { params: { status: tab, limit: 200 } });
      render(
        $("#incident-table", main),
        data.items.length === 0
          ? html`<p>${t("incidents_none")}</p>`
          : html`<table><thead><tr><th scope="col">#</th><th scope="col">${t("kind")}</th><th scope="col">${t("unit")}</th>
              <th scope="col">${t("camera")}</th><th scope="col">${t("opened_at")}</th>
              ${tab === "resolved" ? html`<th scope="col">${t("resolved_at")}</th>` : ""}<th scope="col">${t("duration")}</th>
              <th scope="col">${t("acknowledged")}</th></tr></thead>
            <tbody>${data.items.map(
              (i) => html`<tr data-incident="${i.id}"><td>${i.id}</td><td>${t(`kind_${i.kind}`)}</td><td>${i.unit_name ?? t("none")}</td>
                <td>${i.camera_ids.length > 3 ? t("cameras_n", { n: num(i.camera_ids.length) }) : html`<span class="mono">${i.camera_ids.join(", ")}</span>`}</td>
                <td>${i18n.dateTime(i.opened_at)}</td>
                ${tab === "resolved" ? html`<td>${i18n.dateTime(i.resolved_at)}${i.resolution && i18n.has(`resolution_${i.resolution}`) ? html`<br><small>${t(`resolution_${i.resolution}`)}</small>` : ""}</td>` : ""}
                <td>${i18n.duration(i.opened_at, i.resolved_at ?? serverNow().toISOString())}</td>
                <td>${i.acknowledged_by
                  ? html`<span class="ack">✓ ${t("ack_by", { who: i.acknowledged_by, t: i18n.dateTime(i.acknowledged_at) })}</span>${i.ack_note ? html`<br><small>${i.ack_note}</small>` : ""}`
                  : canAcknowledge(i)
                    ? html`<button type="button" class="primary" data-ack="${i.id}">${t("ack_button")}</button>`
                    : t("not_acknowledged")}</td></tr>`,
            )}</tbody></table>`,
      );
    },
  };
  main.addEventListener("click", (event) => {
    const button = event.target.closest("[data-ack]");
    if (!button) return;
    pending = Number(button.dataset.ack);
    $("#ack-note", main).value = "";
    dialog.showModal();
  });
  $("#ack-cancel", main).addEventListener("click", () => dialog.close());
  $("#ack-form", main).addEventListener("submit", async () => {
    const id = pending;
    try {
      await api(`/api/v1/incidents/${id}/ack`, { method: "POST", body: { note: $("#ack-note", main).value } });
      $("#ack-message", main).textContent = t("ack_done", { id });
      await view.refresh();
    } catch (error) {
      $("#ack-message", main).textContent = t("error", { e: error.message });
    }
  });
  return view;
}
