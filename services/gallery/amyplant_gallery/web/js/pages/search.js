// Search: a photo's faces, each with its best matches and (enroll keys) every past event of that face.

import { loadImage, sendForm } from "../api.js";
import { clear, formatTime, h, messageSlot } from "../dom.js";

export function render(view, { session }) {
  const input = h("input", { id: "search-photo", type: "file", accept: "image/*" });
  const slot = messageSlot();
  const results = h("div", { class: "faces", id: "search-results" });
  const zone = h(
    "div",
    { class: "dropzone" },
    h("label", { for: "search-photo" }, "Photo", input),
    h("p", { class: "muted", text: "Choose or drop a photo to see who is in it." }),
  );
  view.append(h("h1", { text: "Search" }), zone, slot, results);
  const controller = new AbortController();

  async function run(file) {
    if (!file) return;
    clear(results);
    slot.showNotice("Looking…");
    try {
      const form = new FormData();
      form.append("image", file, file.name);
      const answer = await sendForm("/api/v1/recognize", form);
      if (!answer.faces.length) return slot.showError(new Error("No face was found in this photo."));
      slot.showNotice(`${answer.faces.length} face${answer.faces.length === 1 ? "" : "s"} found.`);
      for (const [index, face] of answer.faces.entries()) results.append(await faceCard(file, face, index));
    } catch (error) {
      slot.showError(error);
    }
  }

  async function faceCard(file, face, index) {
    const name = face.unknown || !face.person ? "unknown" : face.person.name;
    const matches = h("ol", { "aria-label": `Best matches for face ${index + 1}` });
    for (const candidate of face.candidates || []) {
      matches.append(h("li", {}, h("a", { href: `#/people/${candidate.person_id}`, text: candidate.name }), ` · distance ${candidate.distance.toFixed(3)}`));
    }
    const card = h(
      "section",
      { class: "panel face-result", "aria-label": `Face ${index + 1}` },
      h("h2", {}, `Face ${index + 1}: `, h("span", { class: "face-name", text: name })),
      h("p", { class: "muted", text: [face.age !== null ? `age ${Math.round(face.age)}` : "", face.gender || ""].filter(Boolean).join(", ") }),
      h("h3", { text: "Best matches" }),
      face.candidates && face.candidates.length ? matches : h("p", { class: "muted", text: "Nobody enrolled is close." }),
    );
    if (session.can_enroll) card.append(h("h3", { text: "Past events" }), await pastEvents(file, index));
    return card;
  }

  async function pastEvents(file, index) {
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("face_index", String(index));
    const list = h("ul", { class: "results" });
    try {
      const answer = await sendForm("/api/v1/search", form);
      if (!answer.hits.length) list.append(h("li", { class: "muted", text: "No past event shows this face." }));
      for (const hit of answer.hits) {
        const thumb = h("img", { class: "thumb", alt: `Snapshot of event ${hit.event_id}`, width: 72, height: 54 });
        if (hit.snapshot_url) loadImage(thumb, hit.snapshot_url, controller.signal).catch(() => thumb.remove());
        const who = hit.person_id ? "named" : hit.visitor_id ? `unknown #${hit.visitor_id}` : "unknown";
        list.append(h("li", {}, thumb, ` Event ${hit.event_id} (${who}) · ${hit.camera_id} · ${formatTime(hit.started_at)} · distance ${hit.distance.toFixed(3)}`));
      }
    } catch (error) {
      list.append(h("li", { class: "error", text: error.message }));
    }
    return list;
  }

  input.addEventListener("change", () => run(input.files[0]));
  zone.addEventListener("dragover", (drag) => { drag.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (drop) => {
    drop.preventDefault();
    zone.classList.remove("over");
    run(drop.dataTransfer.files[0]);
  });
  return () => controller.abort();
}
