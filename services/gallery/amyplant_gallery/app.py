"""The gallery's FastAPI application factory."""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from amyplant_config.settings import GallerySettings
from amyplant_gallery.context import GalleryContext
from amyplant_gallery.errors import error_responses, install_error_handlers
from amyplant_gallery.routes import (
    admin,
    events,
    health,
    live,
    models,
    people,
    recognition,
    session,
    training,
    visitors,
)
from amyplant_gallery.routes.uploads import MAX_FILES_PER_REQUEST
from amyplant_gallery.security_headers import SecurityHeadersMiddleware
from amyplant_gallery.site import mount_site
from amyplant_store.errors import ErrorBody

DESCRIPTION = """Enroll people, recognise faces, and browse every sighting.

Authenticate with an API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`, never in the URL).
Scopes nest: `admin` grants `enroll`, which grants `read`. `read` sees events and their snapshots; face
crops, enrollment samples and face search need `enroll`; export, keys and the audit log need `admin`. Too
many wrong keys from one address are answered 429 for a while. The first admin key is created at first
start and written to `<state_dir>/admin-key.txt`. Every error is a JSON object with a stable `code` and a
human `message`.
Distances are Euclidean between raw face descriptors (0.6 = same person, the default threshold)."""


def request_size_limit(settings: GallerySettings) -> int:
    """The largest request body: a bulk upload of many files (each file has its own, smaller limit)."""
    return settings.max_upload_bytes * min(MAX_FILES_PER_REQUEST, 10) + (1 << 20)


def create_app(settings: GallerySettings | None = None) -> FastAPI:
    """Build the app; resources open in the lifespan so importing this module has no side effects."""
    resolved = settings or GallerySettings()
    max_body = request_size_limit(resolved)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = GalleryContext.open(resolved)
        app.state.context = context
        try:
            yield
        finally:
            context.close()

    app = FastAPI(
        title="amyplant-security gallery",
        version=importlib.metadata.version("amyplant-gallery"),
        description=DESCRIPTION,
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def refuse_oversized_bodies(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Checked before the body is read: multipart parsing would otherwise spool it all to disk first.
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_body:
            body = ErrorBody(
                code="request_too_large",
                message=f"the request has {length} bytes; the limit is {max_body}",
                details={"limit_bytes": max_body},
            )
            return JSONResponse(body.model_dump(), status_code=413)
        return await call_next(request)

    # Added last, so it is the outermost: the answers of the middleware above get the headers too.
    app.add_middleware(SecurityHeadersMiddleware)
    install_error_handlers(app)
    # live before events: its /api/v1/events/stream must not be taken for an event id.
    throttled = error_responses(429)
    for module in (health, live, session, people, recognition, events, visitors, admin, training, models):
        for route in module.router.routes:
            # Every route that takes a key may answer 429 while its caller's address is locked out.
            if isinstance(route, APIRoute) and (route.path.startswith("/api/") or route.path == "/health"):
                for status, response in throttled.items():
                    route.responses.setdefault(status, response)
        app.include_router(module.router)
    mount_site(app)
    return app
