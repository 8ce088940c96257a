"""The web site's files (index.html, css/, js/, img/ inside this package) served at / by the gallery."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

SITE_DIR = Path(__file__).resolve().parent / "web"
# Without a build step the files keep their names across releases, so a browser must ask again each
# time; the ETag makes that a 304 when nothing changed.
SITE_CACHE_CONTROL = "no-cache"
# Types set here rather than guessed from the machine's mime.types, which may lack or differ on them.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


class SiteFiles(StaticFiles):
    """StaticFiles with fixed content types and the site's caching rule."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = SITE_CACHE_CONTROL
            suffix = Path(path).suffix.lower() or ".html"
            if response.status_code == 200 and suffix in CONTENT_TYPES:
                response.headers["Content-Type"] = CONTENT_TYPES[suffix]
        return response


def mount_site(app: FastAPI) -> None:
    """Serve the site at / (after every API route, so /api, /health, /docs and /metrics keep theirs)."""
    app.mount("/", SiteFiles(directory=SITE_DIR, html=True), name="site")
