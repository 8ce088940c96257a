// The sightings stream (server-sent events) read with fetch, because EventSource cannot send the key.

import { request } from "./api.js";

export class SightingStream {
  constructor(onSighting, onState) {
    this.onSighting = onSighting;
    this.onState = onState || (() => {});
    this.controller = null;
    this.stopped = false;
  }

  run() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    let delayMs = 1000;
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        const response = await request("/api/v1/events/stream", { signal: this.controller.signal });
        this.onState("connected");
        delayMs = 1000;
        await this.read(response.body.getReader());
      } catch (error) {
        if (this.stopped) return;
        this.onState(`disconnected: ${error.message}`);
      }
      // Reconnect with a growing pause, so a restarted gallery is found again without hammering it.
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 15000);
    }
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    while (!this.stopped) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    const data = block
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n");
    if (!data) return;  // comments (": keep-alive") carry nothing
    try {
      this.onSighting(JSON.parse(data));
    } catch {
      // A malformed message is skipped; the next one is read as usual.
    }
  }
}
