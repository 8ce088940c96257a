"""Unknown visitors: list, look at, label, and name (which enrolls their faces)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from amyplant_gallery.dependencies import Context, DbSession, EnrollKey, ReadKey
from amyplant_gallery.errors import error_responses
from amyplant_gallery.schemas.common import Offset, RowId
from amyplant_gallery.schemas.events import (
    NameVisitorRequest,
    NamingOut,
    VisitorLabel,
    VisitorOut,
    VisitorsPage,
)
from amyplant_store import visitors as visitor_store
from amyplant_store.errors import GalleryError

router = APIRouter(prefix="/api/v1/visitors", tags=["visitors"])


@router.get("", summary="Unknown visitors, most recently seen first", responses=error_responses(401, 403))
def list_visitors(
    session: DbSession,
    key: ReadKey,
    named: Annotated[bool | None, Query(description="true: named ones only; false: still unknown.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> VisitorsPage:
    rows, total = visitor_store.list_visitors(session, named=named, limit=limit, offset=offset)
    return VisitorsPage(
        items=[VisitorOut.of(v, count) for v, count in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{visitor_id}", summary="One visitor", responses=error_responses(401, 403, 404))
def get_visitor(visitor_id: RowId, session: DbSession, key: ReadKey) -> VisitorOut:
    visitor = visitor_store.get_visitor(session, visitor_id=visitor_id)
    return VisitorOut.of(visitor, visitor_store.count_events(session, visitor_id=visitor_id))


@router.get(
    "/{visitor_id}/crop",
    summary="The visitor's largest face (JPEG; enroll scope: biometric data)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 403, 404)},
)
def visitor_crop(visitor_id: RowId, session: DbSession, key: EnrollKey) -> Response:
    visitor_store.get_visitor(session, visitor_id=visitor_id)
    data = visitor_store.best_crop(session, visitor_id=visitor_id)
    if data is None:
        raise GalleryError("crop_not_available", f"visitor {visitor_id} has no face crop left", status=404)
    return Response(data, media_type="image/jpeg", headers={"X-Content-Type-Options": "nosniff"})


@router.patch(
    "/{visitor_id}", summary="Label a visitor (a note, not a name)", responses=error_responses(401, 403, 404)
)
def label_visitor(visitor_id: RowId, body: VisitorLabel, session: DbSession, key: EnrollKey) -> VisitorOut:
    visitor = visitor_store.update_visitor_label(session, visitor_id=visitor_id, label=body.label)
    return VisitorOut.of(visitor, visitor_store.count_events(session, visitor_id=visitor_id))


@router.post(
    "/{visitor_id}/name",
    summary="Name a visitor: their events name the person and their faces are enrolled",
    responses=error_responses(401, 403, 404, 409, 422),
)
def name_visitor(
    visitor_id: RowId, body: NameVisitorRequest, context: Context, session: DbSession, key: EnrollKey
) -> NamingOut:
    outcome = visitor_store.name_visitor(
        session, visitor_id=visitor_id, person_id=body.person_id, name=body.name, policy=context.policy
    )
    return NamingOut(
        person_id=outcome.person.id,
        person_name=outcome.person.name,
        samples_added=outcome.samples_added,
        events_named=outcome.events_named,
    )
