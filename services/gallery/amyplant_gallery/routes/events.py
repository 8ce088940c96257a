"""Events: record an image's faces, list with filters, snapshots and crops, and feedback on who it is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from amyplant_gallery.dependencies import Context, DbSession, EnrollKey, ReadKey
from amyplant_gallery.errors import error_responses
from amyplant_gallery.feedback import confirm_person, reject_person
from amyplant_gallery.image_events import record_image
from amyplant_gallery.routes.uploads import decoded
from amyplant_gallery.schemas.common import Offset, RowId, SingleLine, multipart_optional
from amyplant_gallery.schemas.events import (
    EventOut,
    EventsPage,
    FeedbackOut,
    FeedbackRequest,
    RecordedEventsOut,
)
from amyplant_store import events as event_store
from amyplant_store.errors import GalleryError
from amyplant_store.tables import Event

router = APIRouter(prefix="/api/v1/events", tags=["events"])
IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def _out(session: DbSession, events: list[Event]) -> list[EventOut]:
    names = event_store.person_names(session, events=events)
    return [EventOut.of(event, names) for event in events]


@router.post(
    "",
    status_code=201,
    summary="Record a sighting from an image (one event per face)",
    description="What an inference worker does for a frame, for one image sent by another system: every "
    "face is named (or clustered into an unknown visitor) and written as an event with the image as its "
    "snapshot. Sending the same `track_id` again updates those events instead of adding new ones.",
    responses=error_responses(400, 401, 403, 413, 415, 422, 503),
)
def record(
    context: Context,
    session: DbSession,
    key: EnrollKey,
    image: Annotated[UploadFile, File(description="The camera image.")],
    camera_id: Annotated[SingleLine, Form(min_length=1, max_length=200)],
    track_id: Annotated[
        SingleLine | None,
        Form(
            max_length=200,
            description="Idempotency key; face i is recorded as '<track_id>/<i>'. Default: a new id.",
            json_schema_extra=multipart_optional,
        ),
    ] = None,
    seen_at: Annotated[
        datetime | None,
        Form(description="When the image was taken; default: now.", json_schema_extra=multipart_optional),
    ] = None,
    threshold: Annotated[
        float | None,
        Form(
            gt=0, le=4, description="Override of the match threshold.", json_schema_extra=multipart_optional
        ),
    ] = None,
) -> RecordedEventsOut:
    when = seen_at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    recorded = record_image(
        session,
        pipeline=context.pipeline,
        rgb=decoded(image, limits=context.limits).rgb,
        camera_id=camera_id,
        seen_at=when,
        track_id=track_id,
        policy=context.policy,
        threshold=threshold,
    )
    events = event_store.events_by_ids(session, ids=[r.event_id for r in recorded])
    return RecordedEventsOut(events=_out(session, [events[r.event_id] for r in recorded]))


@router.get("", summary="List events, newest first, with filters", responses=error_responses(401, 403, 422))
def list_events(
    session: DbSession,
    key: ReadKey,
    person_id: Annotated[RowId | None, Query()] = None,
    visitor_id: Annotated[RowId | None, Query()] = None,
    camera_id: Annotated[SingleLine | None, Query(max_length=200)] = None,
    since: Annotated[
        datetime | None, Query(description="Events still going on at or after this time.")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Events that started at or before this time.")
    ] = None,
    unknown_only: Annotated[bool, Query(description="Only faces that named nobody.")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> EventsPage:
    filters = event_store.EventFilter(
        person_id=person_id,
        visitor_id=visitor_id,
        camera_id=camera_id,
        since=since,
        until=until,
        unknown_only=unknown_only,
    )
    events, total = event_store.list_events(session, filters=filters, limit=limit, offset=offset)
    return EventsPage(items=_out(session, events), total=total, limit=limit, offset=offset)


@router.get("/{event_id}", summary="One event", responses=error_responses(401, 403, 404))
def get_event(event_id: RowId, session: DbSession, key: ReadKey) -> EventOut:
    return _out(session, [event_store.get_event(session, event_id=event_id)])[0]


def _image(data: bytes | None, event_id: int, what: str) -> Response:
    if data is None:
        raise GalleryError(
            f"{what}_not_available",
            f"event {event_id} has no {what} (it was erased, or none was recorded)",
            status=404,
        )
    return Response(data, media_type="image/jpeg", headers=IMAGE_HEADERS)


@router.get(
    "/{event_id}/snapshot",
    summary="The event's snapshot (JPEG)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 403, 404)},
)
def snapshot(event_id: RowId, session: DbSession, key: ReadKey) -> Response:
    return _image(
        event_store.get_event(session, event_id=event_id, with_images=True).snapshot, event_id, "snapshot"
    )


@router.get(
    "/{event_id}/crop",
    summary="The event's aligned face crop (JPEG; enroll scope: biometric data)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 403, 404)},
)
def crop(event_id: RowId, session: DbSession, key: EnrollKey) -> Response:
    return _image(event_store.get_event(session, event_id=event_id, with_images=True).crop, event_id, "crop")


@router.post(
    "/{event_id}/feedback",
    summary='"This is X" or "this is not X"',
    description="`is_person: true` names the event's face X (and with `add_sample`, enrolls it). "
    "`is_person: false` records the face as a negative sample of X: from then on a face closer to X's "
    "negatives than to X's samples is never named X.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def feedback(
    event_id: RowId, body: FeedbackRequest, context: Context, session: DbSession, key: EnrollKey
) -> FeedbackOut:
    if body.is_person:
        outcome = confirm_person(
            session,
            event_id=event_id,
            person_id=body.person_id,
            add_sample=body.add_sample,
            policy=context.policy,
        )
    else:
        outcome = reject_person(session, event_id=event_id, person_id=body.person_id, policy=context.policy)
    return FeedbackOut(
        event=_out(session, [outcome.event])[0],
        face_id=outcome.face_id,
        negative_id=outcome.negative_id,
        note=outcome.note,
    )
