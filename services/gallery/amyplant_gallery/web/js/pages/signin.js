// Sign in: the API key is checked against the gallery, then kept for this browser session only.

import { ApiError, getJson, storeKey } from "../api.js";
import { h, messageSlot } from "../dom.js";

export function render(view, { message, signedIn }) {
  const keyInput = h("input", { id: "api-key", type: "password", name: "api-key", autocomplete: "off", required: true });
  const slot = messageSlot();
  const button = h("button", { type: "submit", text: "Sign in" });
  const form = h(
    "form",
    { class: "panel", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in" }),
    h("p", { class: "muted", text: "Use an API key of this gallery. The first admin key is in admin-key.txt in the state folder." }),
    h("label", { for: "api-key" }, "API key", keyInput),
    h("p", {}, button),
    slot,
  );
  if (message) slot.showNotice(message);
  form.addEventListener("submit", async (submitEvent) => {
    submitEvent.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return slot.showError(new Error("Enter an API key."));
    button.disabled = true;
    try {
      await getJson("/api/v1/me", { key });
      storeKey(key);
      signedIn();
    } catch (error) {
      const text = error instanceof ApiError && error.status === 401
        ? `Wrong API key: ${error.message}.`
        : error.message;
      slot.showError(new Error(text));
    } finally {
      button.disabled = false;
    }
  });
  view.append(form);
  keyInput.focus();
}
