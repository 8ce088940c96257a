// Events: every sighting, newest first, filtered and paged; an event opens its snapshot, crop and track.

import { getJson, loadImage, query, sendJson } from "../api.js";
import { attributes, clear, formatTime, h, messageSlot, personLabel } from "../dom.js";
import { SightingStream } from "../sse.js";

const PAGE_SIZE = 20;

export function render(view, { session }) {
  const slot = messageSlot();
  const personSelect = h("select", { id: "filter-person" }, h("option", { value: "", text: "Anyone" }));
  const cameraInput = h("input", { id: "filter-camera", type: "text", placeholder: "any camera" });
  const sinceInput = h("input", { id: "filter-since", type: "datetime-local" });
  const untilInput = h("input", { id: "filter-until", type: "datetime-local" });
  const unknownOnly = h("input", { id: "filter-unknown", type: "checkbox" });
  const filters = h(
    "form",
    { class: "panel row", "aria-label": "Filters" },
    h("label", { for: "filter-person" }, "Person", personSelect),
    h("label", { for: "filter-camera" }, "Camera", cameraInput),
    h("label", { for: "filter-since" }, "From", sinceInput),
    h("label", { for: "filter-until" }, "Until", untilInput),
    h("label", { class: "inline", for: "filter-unknown" }, unknownOnly, "Unknown only"),
    h("button", { type: "submit", text: "Apply filters" }),
  );
  const body = h("tbody");
  const table = h(
    "table",
    { id: "events-table" },
    h("thead", {}, h("tr", {}, ...["Snapshot", "Who", "Camera", "When", "Details", ""].map((t) => h("th", { scope: "col", text: t })))),
    body,
  );
  const pageInfo = h("span", { class: "muted", id: "events-page" });
  const previous = h("button", { type: "button", class: "secondary", text: "Newer" });
  const next = h("button", { type: "button", class: "secondary", text: "Older" });
  const dialog = h("dialog", { id: "event-dialog", "aria-labelledby": "event-dialog-title" });
  view.append(
    h("h1", { text: "Events" }),
    filters,
    slot,
    h("div", { class: "table-wrap" }, table),
    h("div", { class: "pager" }, previous, next, pageInfo),
    dialog,
  );

  let offset = 0;
  let total = 0;
  const controller = new AbortController();

  function currentFilters() {
    return {
      person_id: personSelect.value,
      camera_id: cameraInput.value.trim(),
      since: sinceInput.value ? new Date(sinceInput.value).toISOString() : "",
      until: untilInput.value ? new Date(untilInput.value).toISOString() : "",
      unknown_only: unknownOnly.checked,
    };
  }

  async function load() {
    try {
      const page = await getJson(`/api/v1/events${query({ ...currentFilters(), limit: PAGE_SIZE, offset })}`);
      total = page.total;
      clear(body);
      if (!page.items.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted", text: "No events." })));
      for (const event of page.items) body.append(row(event));
      pageInfo.textContent = total ? `${offset + 1}–${offset + page.items.length} of ${total}` : "";
      previous.disabled = offset === 0;
      next.disabled = offset + PAGE_SIZE >= total;
      slot.reset();
    } catch (error) {
      slot.showError(error);
    }
  }

  function row(event) {
    const thumb = h("img", { class: "thumb", alt: `Snapshot of event ${event.id}` });
    if (event.snapshot_url && !event.erased) loadImage(thumb, event.snapshot_url, controller.signal).catch(() => thumb.remove());
    return h(
      "tr",
      { "data-event": event.id },
      h("td", {}, thumb),
      h("td", { class: "who", text: personLabel(event) }),
      h("td", { text: event.camera_id }),
      h("td", { text: formatTime(event.started_at) }),
      h("td", { class: "muted", text: attributes(event) }),
      h("td", {}, h("button", { type: "button", class: "secondary", text: "Open", "aria-label": `Open event ${event.id}`, onclick: () => open(event.id) })),
    );
  }

  async function open(eventId) {
    clear(dialog);
    const dialogSlot = messageSlot();
    dialog.append(h("h2", { id: "event-dialog-title", text: `Event ${eventId}` }), dialogSlot);
    dialog.showModal();
    try {
      const event = await getJson(`/api/v1/events/${eventId}`);
      const images = h("div", { class: "event-images" });
      const snapshot = h("img", { alt: "Snapshot" });
      if (event.snapshot_url && !event.erased) images.append(await loadImage(snapshot, event.snapshot_url));
      if (event.crop_url && !event.erased && session.can_enroll) images.append(await loadImage(h("img", { alt: "Face crop" }), event.crop_url));
      const who = h("p", { class: "who" }, h("strong", { text: personLabel(event) }));
      const controls = h("p", { class: "row" });
      if (event.person_id && session.can_enroll) {
        controls.append(h("button", {
          type: "button",
          class: "danger",
          text: "Not this person",
          onclick: async (click) => {
            click.target.disabled = true;
            try {
              const outcome = await sendJson(`/api/v1/events/${eventId}/feedback`, "POST", { person_id: event.person_id, is_person: false });
              clear(who).append(h("strong", { text: personLabel(outcome.event) }));
              dialogSlot.showNotice(`Recorded: this face is not ${event.person_name}.`);
              click.target.remove();
              load();
            } catch (error) {
              click.target.disabled = false;
              dialogSlot.showError(error);
            }
          },
        }));
      }
      controls.append(h("button", { type: "button", class: "secondary", text: "Close", onclick: () => dialog.close() }));
      dialog.append(
        who,
        h("p", { class: "muted", text: `${event.camera_id} · ${formatTime(event.started_at)} → ${formatTime(event.ended_at)}` }),
        h("p", { class: "muted", text: `Track ${event.track_id}${event.distance !== null ? ` · distance ${event.distance.toFixed(3)}` : ""}${attributes(event) ? ` · ${attributes(event)}` : ""}` }),
        images,
        controls,
      );
    } catch (error) {
      dialogSlot.showError(error);
      dialog.append(h("button", { type: "button", class: "secondary", text: "Close", onclick: () => dialog.close() }));
    }
  }

  filters.addEventListener("submit", (submit) => { submit.preventDefault(); offset = 0; load(); });
  previous.addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); load(); });
  next.addEventListener("click", () => { offset += PAGE_SIZE; load(); });

  getJson("/api/v1/people?limit=200").then((page) => {
    for (const person of page.items) personSelect.append(h("option", { value: person.id, text: person.name }));
  }).catch((error) => slot.showError(error));
  load();
  // New sightings refresh the first page (later pages stay where the reader is).
  let pending = null;
  const stream = new SightingStream(() => {
    if (offset !== 0 || pending) return;
    pending = setTimeout(() => { pending = null; load(); }, 500);
  });
  stream.run();
  return () => {
    stream.stop();
    controller.abort();
    if (pending) clearTimeout(pending);
  };
}
