"""Response headers every answer of the gallery carries: no sniffing, no framing, no referrer, no caching.

API answers hold biometric data (faces, snapshots, names, sightings) or keys: no cache may keep them.
The API's own pages (/docs, /redoc) are FastAPI's, which load Swagger UI and ReDoc from a CDN
(cdn.jsdelivr.net, ReDoc's fonts from Google) and run an inline script: they get a policy allowing those;
every other answer, the web site's included, gets a strict one.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The web site (served at /) fits it: its own scripts and styles only, no inline code; images are its own
# files or blob: URLs of pictures it fetched with the key (an <img src> cannot send one).
STRICT_POLICY = (
    "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
API_PREFIX = "/api/"


def security_headers(path: str) -> dict[str, str]:
    """The headers an answer to `path` carries (they replace any the route set)."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": DOCS_POLICY if path in DOCS_PATHS else STRICT_POLICY,
    }
    if path.startswith(API_PREFIX):
        headers["Cache-Control"] = "no-store"
    return headers


class SecurityHeadersMiddleware:
    """Adds security_headers() to every HTTP answer, streamed ones included (pure ASGI, no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
