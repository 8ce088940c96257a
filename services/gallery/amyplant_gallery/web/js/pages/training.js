// Training: the detector's training runs with live progress (epoch, loss, AP) and the gate's verdict.

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
  view.append(slot, h("div", { class: "table-wrap" }, table));

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
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
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
