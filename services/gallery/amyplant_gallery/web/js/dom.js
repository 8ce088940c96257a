// Building page elements: one element factory, messages shown where an action was taken, time formats.

export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") element.textContent = value;
    else if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === "value") element.value = value;
    else if (name === "checked" || name === "disabled" || name === "multiple" || name === "hidden") element[name] = Boolean(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Removes a node's children; pictures shown from blob: URLs (api.js loadImage) give their memory back,
// which matters on pages that redraw themselves on every new sighting.
export function clear(node) {
  for (const img of node.querySelectorAll("img[data-blob-url]")) URL.revokeObjectURL(img.dataset.blobUrl);
  while (node.firstChild) node.firstChild.remove();
  return node;
}

// A slot under a control that shows what went wrong (or right) right there, and tells screen readers.
export function messageSlot() {
  const slot = h("div", { role: "status", "aria-live": "polite" });
  slot.showError = (error) => {
    clear(slot).append(h("p", { class: "error", role: "alert" }, describe(error)));
  };
  slot.showNotice = (text) => {
    clear(slot).append(h("p", { class: "notice" }, text));
  };
  slot.reset = () => clear(slot);
  return slot;
}

export function describe(error) {
  if (!error) return "Something went wrong.";
  if (error.status === 403) return `Not allowed with this key: ${error.message}`;
  return error.message || String(error);
}

export function formatTime(value) {
  if (value === null || value === undefined) return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((part) => part[0].toUpperCase()).join("") || "?";
}

export function personLabel(event) {
  if (event.person_name) return event.person_name;
  return event.visitor_id ? `unknown #${event.visitor_id}` : "unknown";
}

export function attributes(event) {
  const parts = [];
  if (event.age !== null && event.age !== undefined) parts.push(`age ${Math.round(event.age)}`);
  if (event.gender) parts.push(event.gender);
  return parts.join(", ");
}
