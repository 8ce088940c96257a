"""The gallery's FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from amyplant import __version__
from amyplant.core.settings import GallerySettings
from amyplant.services.gallery.context import GalleryContext
from amyplant.services.gallery.routes import health


def create_app(settings: GallerySettings | None = None) -> FastAPI:
    """Build the app; resources open in the lifespan so importing this module has no side effects."""
    resolved = settings or GallerySettings()

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
        version=__version__,
        description="Enroll people, recognise faces, and browse every sighting.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    return app
