// People: everyone enrolled with a face thumbnail and sample count, a name search, and "Add person".

import { getJson, loadImage, query, sendJson } from "../api.js";
import { clear, h, initials, messageSlot } from "../dom.js";

export function render(view, { session, navigate }) {
  const slot = messageSlot();
  const searchInput = h("input", { id: "people-search", type: "search", placeholder: "Name" });
  const list = h("ul", { class: "cards", id: "people-list", "aria-label": "People" });
  const controller = new AbortController();
  const header = h("div", { class: "row" }, h("label", { for: "people-search" }, "Search people", searchInput));
  view.append(h("h1", { text: "People" }), header);
  if (session.can_enroll) view.append(addPersonForm(navigate));
  view.append(slot, list);

  async function load() {
    try {
      const page = await getJson(`/api/v1/people${query({ query: searchInput.value.trim(), limit: 200 })}`);
      clear(list);
      if (!page.items.length) list.append(h("li", { class: "muted", text: "Nobody yet." }));
      for (const person of page.items) list.append(card(person));
      slot.reset();
    } catch (error) {
      slot.showError(error);
    }
  }

  function card(person) {
    const picture = h("div", { class: "avatar", "aria-hidden": "true", text: initials(person.name) });
    // Face crops need the enroll scope; a read key sees initials instead.
    if (session.can_enroll && person.face_count) {
      getJson(`/api/v1/people/${person.id}/faces`, { signal: controller.signal }).then(async (samples) => {
        if (!samples.length) return;
        const img = h("img", { alt: `Face of ${person.name}` });
        await loadImage(img, samples[0].crop_url, controller.signal);
        picture.replaceWith(img);
      }).catch(() => {});
    }
    return h(
      "li",
      { class: "card", "data-person": person.id },
      picture,
      h(
        "div",
        {},
        h("a", { class: "name", href: `#/people/${person.id}`, text: person.name }),
        h("div", { class: "muted", text: `${person.face_count} sample${person.face_count === 1 ? "" : "s"} · ${person.event_count} sighting${person.event_count === 1 ? "" : "s"}` }),
      ),
    );
  }

  let typing = null;
  searchInput.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(load, 250);
  });
  load();
  return () => { controller.abort(); clearTimeout(typing); };
}

function addPersonForm(navigate) {
  const nameInput = h("input", { id: "new-person-name", type: "text", required: true, maxlength: 200 });
  const slot = messageSlot();
  const form = h(
    "form",
    { class: "panel", hidden: true, "aria-label": "New person" },
    h("div", { class: "row" }, h("label", { for: "new-person-name" }, "Name", nameInput), h("button", { type: "submit", text: "Create" })),
    slot,
  );
  const toggle = h("button", {
    type: "button",
    text: "Add person",
    "aria-expanded": "false",
    onclick: () => {
      form.hidden = !form.hidden;
      toggle.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) nameInput.focus();
    },
  });
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    try {
      const person = await sendJson("/api/v1/people", "POST", { name: nameInput.value.trim() });
      navigate(`#/people/${person.id}`);
    } catch (error) {
      slot.showError(error);
    }
  });
  return h("div", {}, h("p", {}, toggle), form);
}
