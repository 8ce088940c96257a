// Visitors ("Who is this?"): unknown faces grouped by visitor, each namable as a new or known person.

import { getJson, loadImage, query, sendJson } from "../api.js";
import { clear, formatTime, h, messageSlot } from "../dom.js";

export function render(view, { session }) {
  const slot = messageSlot();
  const list = h("ul", { class: "cards wide", id: "visitor-list", "aria-label": "Unknown visitors" });
  const controller = new AbortController();
  view.append(
    h("h1", { text: "Who is this?" }),
    h("p", { class: "muted", text: "Unknown visitors, most recently seen first. Naming one names every sighting of them." }),
    slot,
    list,
  );
  let people = [];

  async function load() {
    try {
      const [page, known] = await Promise.all([
        getJson(`/api/v1/visitors${query({ named: false, limit: 100 })}`),
        getJson("/api/v1/people?limit=200"),
      ]);
      people = known.items;
      clear(list);
      if (!page.items.length) list.append(h("li", { class: "muted", text: "No unknown visitors." }));
      for (const visitor of page.items) list.append(card(visitor));
      slot.reset();
    } catch (error) {
      slot.showError(error);
    }
  }

  function card(visitor) {
    const picture = h("div", { class: "avatar", "aria-hidden": "true", text: "?" });
    if (session.can_enroll && visitor.crop_url) {
      const img = h("img", { alt: `Face of unknown #${visitor.id}` });
      loadImage(img, visitor.crop_url, controller.signal).then(() => picture.replaceWith(img)).catch(() => {});
    }
    const body = h(
      "div",
      {},
      h("div", { class: "name", text: `unknown #${visitor.id}${visitor.label ? ` (${visitor.label})` : ""}` }),
      h("div", { class: "muted", text: `${visitor.event_count} sighting${visitor.event_count === 1 ? "" : "s"} · last ${formatTime(visitor.last_seen)}` }),
    );
    if (session.can_enroll) body.append(namingForm(visitor));
    return h("li", { class: "card", "data-visitor": visitor.id }, picture, body);
  }

  function namingForm(visitor) {
    const nameId = `visitor-${visitor.id}-name`;
    const existingId = `visitor-${visitor.id}-person`;
    const nameInput = h("input", { id: nameId, type: "text", maxlength: 200 });
    const existing = h("select", { id: existingId }, h("option", { value: "", text: "Choose…" }), ...people.map((p) => h("option", { value: p.id, text: p.name })));
    const slot = messageSlot();
    const form = h(
      "form",
      { "aria-label": `Name unknown #${visitor.id}` },
      h("label", { for: nameId }, "New person's name", nameInput),
      h("label", { for: existingId }, "This is ...", existing),
      h("p", {}, h("button", { type: "submit", text: "Name" })),
      slot,
    );
    form.addEventListener("submit", async (submit) => {
      submit.preventDefault();
      const body = existing.value ? { person_id: Number(existing.value) } : { name: nameInput.value.trim() };
      if (!body.person_id && !body.name) return slot.showError(new Error("Type a name or choose a person."));
      try {
        const outcome = await sendJson(`/api/v1/visitors/${visitor.id}/name`, "POST", body);
        slot.showNotice(`Named ${outcome.person_name}.`);
        setTimeout(load, 800);
      } catch (error) {
        slot.showError(error);
      }
    });
    return form;
  }

  load();
  return () => controller.abort();
}
