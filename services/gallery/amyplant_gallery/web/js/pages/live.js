// Live: a tile per camera (its latest annotated frame, state and frames/s) and sightings as they happen.

import { ApiError, getJson, loadImage } from "../api.js";
import { attributes, clear, formatTime, h, messageSlot, personLabel } from "../dom.js";
import { SightingStream } from "../sse.js";

const FRAME_REFRESH_MS = 1000;
const STATUS_REFRESH_MS = 2000;
const FEED_LENGTH = 30;

export function render(view) {
  const slot = messageSlot();
  const tiles = h("div", { class: "tiles", id: "camera-tiles" });
  const feed = h("ol", { class: "feed", id: "sightings", "aria-label": "Sightings" });
  const streamState = h("p", { class: "muted", id: "stream-state", text: "Connecting to the sightings stream…" });
  view.append(
    h("h1", { text: "Live" }),
    slot,
    h(
      "div",
      { class: "live-layout" },
      h("section", { "aria-label": "Cameras" }, tiles),
      h("section", { "aria-labelledby": "feed-title" }, h("h2", { id: "feed-title", text: "Sightings" }), streamState, feed),
    ),
  );

  const cameras = new Map();  // camera id -> { tile parts, last counters }
  let stopped = false;

  async function refreshStatuses() {
    try {
      const statuses = await getJson("/api/v1/cameras");
      slot.reset();
      if (!statuses.length && !cameras.size) {
        clear(tiles).append(h("p", { class: "muted", text: "No camera is running. Start one with amyplant capture, or add it to the cameras file." }));
      }
      for (const status of statuses) updateTile(status);
    } catch (error) {
      slot.showError(error);
    }
  }

  function updateTile(status) {
    let camera = cameras.get(status.camera_id);
    if (!camera) {
      if (!cameras.size) clear(tiles);
      const img = h("img", { alt: `Latest frame of camera ${status.camera_id}`, hidden: true });
      const placeholder = h("span", { class: "placeholder", text: "Waiting for a frame…" });
      const badge = h("span", { class: "badge" });
      const rate = h("span", { class: "muted" });
      const reason = h("span", { class: "error" });
      const tile = h(
        "article",
        { class: "tile", "data-camera": status.camera_id, "aria-label": `Camera ${status.camera_id}` },
        h("figure", {}, img, placeholder),
        h("div", { class: "meta" }, h("strong", { text: status.camera_id }), badge, rate),
        h("div", { class: "meta" }, reason),
      );
      tiles.append(tile);
      camera = { img, placeholder, badge, rate, reason, last: null };
      cameras.set(status.camera_id, camera);
    }
    camera.badge.textContent = status.state;
    camera.badge.className = `badge ${status.state}`;
    camera.reason.textContent = status.reason ? `Reason: ${status.reason}` : "";
    if (camera.last && status.updated_at > camera.last.updated_at) {
      const perSecond = (status.captured - camera.last.captured) / (status.updated_at - camera.last.updated_at);
      const still = status.still ?? 0;
      camera.rate.textContent = `${Math.max(perSecond, 0).toFixed(1)} frames/s · ${status.queued} analysed, ${still} still`;
    }
    camera.last = status;
  }

  async function refreshFrames() {
    if (document.visibilityState !== "visible") return;
    await Promise.all([...cameras.entries()].map(async ([id, camera]) => {
      try {
        await loadImage(camera.img, `/api/v1/cameras/${encodeURIComponent(id)}/frame.jpg`);
        camera.img.hidden = false;
        camera.placeholder.hidden = true;
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          camera.placeholder.textContent = "No recent frame";
          camera.placeholder.hidden = false;
          camera.img.hidden = true;
        } else {
          slot.showError(error);
        }
      }
    }));
  }

  function addSighting(sighting) {
    const item = h(
      "li",
      { class: `arrived ${sighting.person_name ? "named" : "unknown"}` },
      h("strong", { text: personLabel(sighting) }),
      ` · ${sighting.camera_id} · ${formatTime(sighting.last_seen || Date.now() / 1000)}`,
      sighting.confidence !== undefined ? h("span", { class: "muted", text: ` · confidence ${sighting.confidence}` }) : null,
      attributes(sighting) ? h("div", { class: "muted", text: attributes(sighting) }) : null,
    );
    feed.prepend(item);
    while (feed.children.length > FEED_LENGTH) feed.lastElementChild.remove();
  }

  const stream = new SightingStream(addSighting, (state) => {
    streamState.textContent = state === "connected" ? "New sightings appear here as they happen." : `Stream ${state}; retrying.`;
  });
  stream.run();
  refreshStatuses().then(refreshFrames);
  const statusTimer = setInterval(refreshStatuses, STATUS_REFRESH_MS);
  const frameTimer = setInterval(() => { if (!stopped) refreshFrames(); }, FRAME_REFRESH_MS);
  return () => {
    stopped = true;
    stream.stop();
    clearInterval(statusTimer);
    clearInterval(frameTimer);
    for (const camera of cameras.values()) if (camera.img.dataset.blobUrl) URL.revokeObjectURL(camera.img.dataset.blobUrl);
  };
}
