// Settings: cameras and their state, the thresholds in force, and API keys (admin: create, revoke).

import { getJson, request, sendJson } from "../api.js";
import { clear, formatTime, h, messageSlot } from "../dom.js";

export function render(view, { session }) {
  const slot = messageSlot();
  const cameras = h("tbody");
  view.append(
    h("h1", { text: "Settings" }),
    h("section", { class: "panel", "aria-labelledby": "key-title" },
      h("h2", { id: "key-title", text: "This key" }),
      h("p", { text: `${session.key_name} · scopes: ${session.scopes.join(", ")}` })),
    h("section", { class: "panel", "aria-labelledby": "thresholds-title" },
      h("h2", { id: "thresholds-title", text: "Recognition" }),
      h("p", { id: "match-threshold", text: `Match threshold in force: ${session.match_threshold} (a face closer than this to a person's samples is named).` }),
      h("p", { text: `Unknown faces join a visitor within ${session.visitor_threshold}. Up to ${session.max_files_per_request} photos per enrollment, ${Math.round(session.max_upload_bytes / 1048576)} MiB each.` })),
    h("section", { class: "panel", "aria-labelledby": "cameras-title" },
      h("h2", { id: "cameras-title", text: "Cameras" }),
      h("p", { class: "muted", text: "Cameras are set in the cameras file of amyplant capture; their state is shown here." }),
      h("div", { class: "table-wrap" }, h("table", { id: "cameras-table" },
        h("thead", {}, h("tr", {}, ...["Camera", "State", "Reason", "Captured", "Sent", "Still", "Dropped", "Reconnects"].map((t) => h("th", { scope: "col", text: t })))),
        cameras))),
    slot,
  );
  if (session.is_admin) view.append(keysSection());

  getJson("/api/v1/cameras").then((statuses) => {
    clear(cameras);
    if (!statuses.length) cameras.append(h("tr", {}, h("td", { colspan: 8, class: "muted", text: "No camera is running." })));
    for (const status of statuses) {
      cameras.append(h("tr", {}, ...[status.camera_id, status.state, status.reason || "", status.captured, status.queued, status.still ?? 0, status.dropped, status.reconnects].map((value) => h("td", { text: String(value) }))));
    }
  }).catch((error) => slot.showError(error));
}

function keysSection() {
  const body = h("tbody");
  const slot = messageSlot();
  const secret = h("div", { "aria-live": "polite" });
  const nameInput = h("input", { id: "key-name", type: "text", required: true, maxlength: 200 });
  const scope = h("select", { id: "key-scope" }, ...["read", "enroll", "admin"].map((s) => h("option", { value: s, text: s })));
  const form = h(
    "form",
    { class: "row", "aria-label": "New API key" },
    h("label", { for: "key-name" }, "Key name", nameInput),
    h("label", { for: "key-scope" }, "Scope", scope),
    h("button", { type: "submit", text: "Create key" }),
  );

  async function load() {
    try {
      const keys = await getJson("/api/v1/api-keys");
      clear(body);
      for (const key of keys) {
        const revoke = key.revoked_at ? null : h("button", {
          type: "button",
          class: "danger",
          text: "Revoke",
          "aria-label": `Revoke key ${key.name}`,
          onclick: async () => {
            try {
              await request(`/api/v1/api-keys/${key.id}`, { method: "DELETE" });
              load();
            } catch (error) {
              slot.showError(error);
            }
          },
        });
        body.append(h("tr", {},
          h("td", { text: key.name }),
          h("td", { text: `${key.prefix}…` }),
          h("td", { text: key.scopes.join(", ") }),
          h("td", { text: key.last_used_at ? formatTime(key.last_used_at) : "never" }),
          h("td", { text: key.revoked_at ? `revoked ${formatTime(key.revoked_at)}` : "active" }),
          h("td", {}, revoke)));
      }
    } catch (error) {
      slot.showError(error);
    }
  }

  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    try {
      const created = await sendJson("/api/v1/api-keys", "POST", { name: nameInput.value.trim(), scopes: [scope.value] });
      clear(secret).append(
        h("p", { class: "notice", text: "Copy this key now: it is shown only once." }),
        h("p", { class: "secret", id: "new-key-secret", text: created.key }),
      );
      nameInput.value = "";
      load();
    } catch (error) {
      slot.showError(error);
    }
  });
  load();
  return h(
    "section",
    { class: "panel", "aria-labelledby": "keys-title" },
    h("h2", { id: "keys-title", text: "API keys" }),
    form,
    secret,
    slot,
    h("div", { class: "table-wrap" }, h("table", { id: "keys-table" },
      h("thead", {}, h("tr", {}, ...["Name", "Prefix", "Scopes", "Last used", "State", ""].map((t) => h("th", { scope: "col", text: t })))),
      body)),
  );
}
