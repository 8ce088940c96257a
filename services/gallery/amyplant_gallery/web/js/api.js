// Calls to the gallery's REST API with the signed-in key; every failure carries the API's code and message.

const KEY_STORAGE = "amyplant.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

// sessionStorage: the key lives as long as the browser tab's session, never on disk beyond it.
export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

export async function request(path, { method = "GET", json, form, key = storedKey(), signal } = {}) {
  const headers = {};
  if (key) headers.Authorization = `Bearer ${key}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "The gallery did not answer: is it running?");
  }
  if (!response.ok) {
    let payload = {};
    try {
      payload = await response.json();
    } catch {
      payload = {};
    }
    throw new ApiError(
      response.status,
      payload.code || `http_${response.status}`,
      payload.message || response.statusText || `HTTP ${response.status}`,
      payload.details,
    );
  }
  return response;
}

export async function getJson(path, options) {
  return (await request(path, options)).json();
}

export async function sendJson(path, method, json) {
  const response = await request(path, { method, json });
  return response.status === 204 ? null : response.json();
}

export async function sendForm(path, form) {
  return (await request(path, { method: "POST", form })).json();
}

// An <img src> cannot send the key, so pictures are fetched and shown from blob: URLs.
export async function loadImage(img, path, signal) {
  const response = await request(path, { signal });
  const url = URL.createObjectURL(await response.blob());
  const previous = img.dataset.blobUrl;
  img.src = url;
  img.dataset.blobUrl = url;
  if (previous) URL.revokeObjectURL(previous);
  return img;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
