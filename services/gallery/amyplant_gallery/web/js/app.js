// The site's shell: sign-in state, the navigation bar and the hash routes (#/people/3) to each page.

import { ApiError, forgetKey, getJson, storedKey } from "./api.js";
import { clear } from "./dom.js";
import * as events from "./pages/events.js";
import * as live from "./pages/live.js";
import * as people from "./pages/people.js";
import * as person from "./pages/person.js";
import * as search from "./pages/search.js";
import * as settings from "./pages/settings.js";
import * as signin from "./pages/signin.js";
import * as training from "./pages/training.js";
import * as visitors from "./pages/visitors.js";

const PAGES = { live, events, people, person, visitors, search, training, settings };
const TITLES = {
  live: "Live", events: "Events", people: "People", person: "Person", visitors: "Visitors",
  search: "Search", training: "Training", settings: "Settings", signin: "Sign in",
};

class Site {
  constructor() {
    this.view = document.getElementById("view");
    this.nav = document.getElementById("nav");
    this.session = null;
    this.cleanup = null;
  }

  run() {
    window.addEventListener("hashchange", () => this.show());
    document.getElementById("sign-out").addEventListener("click", () => this.signOut());
    this.show();
  }

  route() {
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
    const [name, param] = parts;
    if (name === "people" && param) return { name: "person", param };
    return { name: PAGES[name] ? name : "live", param };
  }

  async show(message) {
    if (this.cleanup) this.cleanup();
    this.cleanup = null;
    clear(this.view);
    if (!storedKey()) return this.showSignIn(message);
    if (!this.session) {
      try {
        this.session = await getJson("/api/v1/me");
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) forgetKey();
        return this.showSignIn(error.message);
      }
    }
    const { name, param } = this.route();
    this.nav.hidden = false;
    for (const link of this.nav.querySelectorAll("a")) {
      const target = link.getAttribute("href").slice(2);
      if (target === name || (name === "person" && target === "people")) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    document.title = `${TITLES[name]} · amyplant-security`;
    const context = { session: this.session, param, navigate: (hash) => { location.hash = hash; } };
    this.cleanup = PAGES[name].render(this.view, context) || null;
  }

  showSignIn(message) {
    this.session = null;
    this.nav.hidden = true;
    document.title = `${TITLES.signin} · amyplant-security`;
    signin.render(this.view, {
      message,
      signedIn: () => {
        if (!location.hash || location.hash === "#/" || location.hash === "#/signin") location.hash = "#/live";
        else this.show();
      },
    });
  }

  signOut() {
    forgetKey();
    this.session = null;
    if (this.cleanup) this.cleanup();
    this.cleanup = null;
    clear(this.view);
    this.showSignIn("Signed out.");
  }
}

new Site().run();

