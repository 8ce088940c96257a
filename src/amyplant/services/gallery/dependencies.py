"""FastAPI dependencies shared by the gallery's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from amyplant.services.gallery.context import GalleryContext


def get_context(request: Request) -> GalleryContext:
    context: GalleryContext = request.app.state.context
    return context


Context = Annotated[GalleryContext, Depends(get_context)]
