// Training: the detector's training runs with live progress (epoch, loss, AP) and the gate's verdict;
// every model's versions with their figures, promoted or rolled back by admin keys.

import { getJson, sendJson } from "../api.js";
import { clear, h, messageSlot } from "../dom.js";

const REFRESH_MS = 2000;

export function render(view, { session }) {
  const slot = messageSlot();
  const body = h("tbody");
  const table = h(
    "table",
    { id: "training-runs" },
    h("thead", {}, h("tr", {}, ...["Run", "State", "Progress", "Last loss", "Gate", "Published", ""].map((t) => h("th", { scope: "col", text: t })))),
    body,
  );
  view.append(h("h1", { text: "Training" }), h("p", { class: "muted", text: "Our own face detector, trained on your annotated camera images (LabelMe), published only when it beats the served one." }));
  if (session.is_admin) view.append(startForm(() => load()));
  const versions = h("div", { id: "model-versions" });
  view.append(slot, h("div", { class: "table-wrap" }, table), h("h2", { text: "Model versions" }), versions);

  async function load() {
    try {
      const runs = await getJson("/api/v1/training");
      clear(body);
      if (!runs.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted", text: "No training run yet." })));
      for (const run of runs) body.append(row(run));
      slot.reset();
    } catch (error) {
      slot.showError(error);
    }
  }

  function row(run) {
    const planned = run.request && run.request.epochs ? run.request.epochs : null;
    const done = run.epochs.length;
    const last = run.epochs[done - 1] || {};
    const progress = planned ? h("progress", { class: "progress", max: planned, value: done, "aria-label": `Run ${run.job_id} progress` }) : null;
    const loss = Object.entries(last).filter(([name]) => name.includes("loss")).map(([name, value]) => `${name} ${Number(value).toFixed(3)}`).join(", ");
    const gate = run.gate ? Object.entries(run.gate).map(([name, value]) => `${name}: ${typeof value === "number" ? value.toFixed(3) : value}`).join(", ") : "";
    const cancel = session.is_admin && (run.state === "queued" || run.state === "running")
      ? h("button", { type: "button", class: "secondary", text: "Cancel", "aria-label": `Cancel run ${run.job_id}`, onclick: async () => {
        try { await sendJson(`/api/v1/training/${run.job_id}/cancel`, "POST"); load(); } catch (error) { slot.showError(error); }
      } })
      : null;
    return h(
      "tr",
      {},
      h("td", { text: run.job_id.slice(0, 8) }),
      h("td", {}, run.state, run.stage ? h("div", { class: "muted", text: run.stage }) : null, run.error ? h("div", { class: "error", text: run.error }) : null),
      h("td", {}, `epoch ${done}${planned ? ` of ${planned}` : ""}`, progress),
      h("td", { text: loss }),
      h("td", { text: gate }),
      h("td", { text: run.published_version ? `version ${run.published_version}` : "" }),
      h("td", {}, cancel),
    );
  }

  load();
  showVersions(versions, session);
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}

// The figures worth a glance: a gate's AP, a build check's parity; the rest stays in the manifest.
function headline(version) {
  const parts = [];
  const gate = version.figures && version.figures.gate;
  if (gate) for (const [name, value] of Object.entries(gate)) if (typeof value === "number") parts.push(`${name} ${value.toFixed(3)}`);
  if (version.check) for (const [name, value] of Object.entries(version.check)) if (typeof value === "number") parts.push(`${name} ${Number.isInteger(value) ? value : value.toPrecision(3)}`);
  return parts.slice(0, 4).join(", ");
}

async function showVersions(container, session) {
  const slot = messageSlot();
  clear(container).append(slot);
  let models;
  try {
    models = await getJson("/api/v1/models");
  } catch (error) {
    return slot.showError(error);
  }
  const reload = () => showVersions(container, session);
  for (const model of models) {
    const body = h("tbody");
    const rows = [...model.versions.map((v) => ({ ...v, state: v.serving ? "serving" : "standby" })), ...model.retired.map((v) => ({ ...v, state: "retired" }))];
    for (const version of rows) {
      const promote = session.is_admin && !version.serving
        ? h("button", { type: "button", class: "secondary", text: "Promote", "aria-label": `Promote ${model.name} version ${version.version}`, onclick: async () => {
          try {
            const answer = await sendJson(`/api/v1/models/${model.name}/promote`, "POST", { version: version.version });
            slot.showNotice(`${model.name}: version ${answer.promoted_from} now serves as version ${answer.serving_version}.`);
            reload();
          } catch (error) { slot.showError(error); }
        } })
        : null;
      body.append(h("tr", {},
        h("td", { text: String(version.version) }),
        h("td", { text: version.state + (version.promoted_from ? ` (copy of ${version.promoted_from})` : "") }),
        h("td", { text: version.builder || "" }),
        h("td", { class: "muted", text: headline(version) }),
        h("td", {}, promote)));
    }
    const rollback = session.is_admin && model.versions.length > 1
      ? h("button", { type: "button", class: "danger", text: "Roll back", "aria-label": `Roll back ${model.name}`, onclick: async () => {
        try {
          const answer = await sendJson(`/api/v1/models/${model.name}/rollback`, "POST");
          slot.showNotice(`${model.name}: version ${answer.retired_version} retired; version ${answer.serving_version} serves.`);
          reload();
        } catch (error) { slot.showError(error); }
      } })
      : null;
    container.append(h("section", { class: "panel", "aria-label": `${model.name} versions` },
      h("div", { class: "row" }, h("h3", { text: model.name }), rollback),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ...["Version", "State", "Built by", "Figures", ""].map((t) => h("th", { scope: "col", text: t })))),
        body))));
  }
}

function startForm(reload) {
  const dataset = h("input", { id: "training-dataset", type: "text", placeholder: "/path/inside/the/datasets/folder" });
  const epochs = h("input", { id: "training-epochs", type: "number", min: 1, max: 500, value: 10 });
  const slot = messageSlot();
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "training-start-title" },
    h("h2", { id: "training-start-title", text: "Start a run" }),
    h("div", { class: "row" }, h("label", { for: "training-dataset" }, "Dataset folder", dataset), h("label", { for: "training-epochs" }, "Epochs", epochs), h("button", { type: "submit", text: "Start training" })),
    slot,
  );
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const body = { epochs: Number(epochs.value) };
    if (dataset.value.trim()) body.dataset = dataset.value.trim();
    try {
      const job = await sendJson("/api/v1/training", "POST", body);
      slot.showNotice(`Run ${job.job_id.slice(0, 8)} queued.`);
      reload();
    } catch (error) {
      slot.showError(error);
    }
  });
  return form;
}
