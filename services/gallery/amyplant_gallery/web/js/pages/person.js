// A person: enroll photos (file input or drop) with a result per file, samples, rename, merge and erase.

import { getJson, loadImage, request, sendForm, sendJson } from "../api.js";
import { clear, h, messageSlot } from "../dom.js";

export function render(view, { session, param, navigate }) {
  const personId = Number(param);
  const slot = messageSlot();
  const title = h("h1", { text: "Person" });
  const summary = h("p", { class: "muted" });
  const samples = h("ul", { class: "samples", id: "samples", "aria-label": "Samples" });
  const controller = new AbortController();
  view.append(h("p", {}, h("a", { href: "#/people", text: "← People" })), title, summary, slot);
  let person = null;
  let erase = null;

  async function load() {
    try {
      person = await getJson(`/api/v1/people/${personId}`);
      title.textContent = person.name;
      summary.textContent = `${person.face_count} sample${person.face_count === 1 ? "" : "s"} · ${person.event_count} sighting${person.event_count === 1 ? "" : "s"}`;
      if (erase) erase.refresh();
      if (session.can_enroll) await loadSamples();
    } catch (error) {
      slot.showError(error);
    }
  }

  async function loadSamples() {
    const items = await getJson(`/api/v1/people/${personId}/faces`, { signal: controller.signal });
    clear(samples);
    if (!items.length) samples.append(h("li", { class: "muted", text: "No samples yet." }));
    items.forEach((sample, index) => {
      const img = h("img", { alt: `Sample ${index + 1} of ${person.name}` });
      loadImage(img, sample.crop_url, controller.signal).catch(() => {});
      samples.append(h(
        "li",
        { "data-sample": sample.id },
        img,
        h("button", {
          type: "button",
          class: "secondary",
          text: "Remove",
          "aria-label": `Remove sample ${index + 1}`,
          onclick: async () => {
            try {
              await request(`/api/v1/people/${personId}/faces/${sample.id}`, { method: "DELETE" });
              load();
            } catch (error) {
              slot.showError(error);
            }
          },
        }),
      ));
    });
  }

  if (session.can_enroll) {
    view.append(enrollSection(personId, () => load()), h("h2", { text: "Samples" }), samples, renameForm(personId, () => load()));
    if (session.is_admin) view.append(mergeForm(personId, () => load()));
    erase = eraseForm(personId, () => person, navigate);
    view.append(erase);
  } else {
    view.append(h("p", { class: "muted", text: "This key can only read: enrolling, renaming and erasing need an enroll key." }));
  }
  load();
  return () => controller.abort();
}

function enrollSection(personId, reload) {
  const input = h("input", { id: "photos", type: "file", accept: "image/*", multiple: true });
  const results = h("ul", { class: "results", id: "enroll-results", "aria-label": "Enrollment results" });
  const slot = messageSlot();
  const zone = h(
    "div",
    { class: "dropzone" },
    h("label", { for: "photos" }, "Photos", input),
    h("p", { class: "muted", text: "Choose several photos, or drop them here. Each should show this person's face alone." }),
  );

  async function upload(files) {
    if (!files.length) return;
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    slot.showNotice(`Enrolling ${files.length} photo${files.length === 1 ? "" : "s"}…`);
    clear(results);
    try {
      const outcome = await sendForm(`/api/v1/people/${personId}/faces`, form);
      showResults(outcome);
    } catch (error) {
      // A request with nothing enrolled still answers a result per file in its details.
      if (error.details && Array.isArray(error.details.results)) showResults(error.details);
      else slot.showError(error);
    }
    input.value = "";
    reload();
  }

  function showResults(outcome) {
    slot.showNotice(`${outcome.enrolled ?? 0} enrolled, ${outcome.rejected ?? 0} refused.`);
    for (const result of outcome.results || []) {
      const ok = result.status === "enrolled";
      results.append(h("li", { class: ok ? "enrolled" : "rejected" }, h("strong", { text: result.filename }), `: ${ok ? "enrolled" : result.message || result.code}`));
    }
  }

  input.addEventListener("change", () => upload([...input.files]));
  zone.addEventListener("dragover", (drag) => { drag.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (drop) => {
    drop.preventDefault();
    zone.classList.remove("over");
    upload([...drop.dataTransfer.files]);
  });
  return h("section", { class: "panel", "aria-labelledby": "enroll-title" }, h("h2", { id: "enroll-title", text: "Enroll photos" }), zone, slot, results);
}

function renameForm(personId, reload) {
  const input = h("input", { id: "rename", type: "text", required: true, maxlength: 200 });
  const slot = messageSlot();
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "rename-title" },
    h("h2", { id: "rename-title", text: "Rename" }),
    h("div", { class: "row" }, h("label", { for: "rename" }, "New name", input), h("button", { type: "submit", text: "Rename" })),
    slot,
  );
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    try {
      await sendJson(`/api/v1/people/${personId}`, "PATCH", { name: input.value.trim() });
      slot.showNotice("Renamed.");
      input.value = "";
      reload();
    } catch (error) {
      slot.showError(error);
    }
  });
  return form;
}

function mergeForm(personId, reload) {
  const select = h("select", { id: "merge-from" }, h("option", { value: "", text: "Choose a person" }));
  const slot = messageSlot();
  getJson("/api/v1/people?limit=200").then((page) => {
    for (const other of page.items) if (other.id !== personId) select.append(h("option", { value: other.id, text: other.name }));
  }).catch((error) => slot.showError(error));
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "merge-title" },
    h("h2", { id: "merge-title", text: "Merge" }),
    h("p", { class: "muted", text: "Moves the other person's samples and sightings here and removes them." }),
    h("div", { class: "row" }, h("label", { for: "merge-from" }, "Merge into this person", select), h("button", { type: "submit", text: "Merge" })),
    slot,
  );
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    if (!select.value) return slot.showError(new Error("Choose the person to merge."));
    try {
      await sendJson(`/api/v1/people/${personId}/merge`, "POST", { from_person_id: Number(select.value) });
      slot.showNotice("Merged.");
      reload();
    } catch (error) {
      slot.showError(error);
    }
  });
  return form;
}

function eraseForm(personId, currentPerson, navigate) {
  const input = h("input", { id: "erase-confirm", type: "text", autocomplete: "off" });
  const button = h("button", { type: "submit", class: "danger", text: "Erase", disabled: true });
  const slot = messageSlot();
  // Checked on typing and again once the person has loaded (typing may come first).
  const check = () => {
    const person = currentPerson();
    button.disabled = !person || input.value !== person.name;
  };
  input.addEventListener("input", check);
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "erase-title" },
    h("h2", { id: "erase-title", text: "Erase" }),
    h("p", { class: "muted", text: "Removes this person, every sample and every sighting of them, for good." }),
    h("div", { class: "row" }, h("label", { for: "erase-confirm" }, "Type the name to confirm", input), button),
    slot,
  );
  form.refresh = check;
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    try {
      await request(`/api/v1/people/${personId}?erase=true`, { method: "DELETE" });
      navigate("#/people");
    } catch (error) {
      slot.showError(error);
    }
  });
  return form;
}
