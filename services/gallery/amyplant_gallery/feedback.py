"""Feedback on an event's face: "this is X" (optionally a new sample) or "this is not X" (a negative)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from amyplant_store import face_samples as face_store
from amyplant_store.errors import GalleryError
from amyplant_store.events import get_event
from amyplant_store.people import get_person
from amyplant_store.policy import GalleryPolicy
from amyplant_store.tables import Event
from amyplant_store.vectors import nearest_faces
from amyplant_store.visitors import assign_visitor


@dataclass(frozen=True)
class FeedbackOutcome:
    """What the feedback changed."""

    event: Event
    face_id: int | None = None
    negative_id: int | None = None
    note: str = ""


def confirm_person(
    session: Session, *, event_id: int, person_id: int, add_sample: bool, policy: GalleryPolicy
) -> FeedbackOutcome:
    """ "This is X": the event names X from now on; with add_sample, its face becomes one of X's samples."""
    event = _face_event(session, event_id=event_id)
    person = get_person(session, person_id=person_id)
    event.person_id = person.id
    event.labelled = True
    face_id, note = None, ""
    if add_sample:
        assert event.embedding is not None and event.model_version is not None
        near = nearest_faces(
            session, embedding=event.embedding, model_version=event.model_version, candidates=1
        )
        if near and near[0].distance <= policy.duplicate_distance:
            note = f"no sample added: the face duplicates sample {near[0].row_id}"
        else:
            face_id = face_store.add_face(
                session, person_id=person.id, sample=face_store.sample_from_event(event)
            ).id
    session.flush()
    return FeedbackOutcome(event=event, face_id=face_id, note=note)


def reject_person(
    session: Session, *, event_id: int, person_id: int, policy: GalleryPolicy
) -> FeedbackOutcome:
    """ "This is not X": the face becomes a negative sample of X, and an event naming X becomes unknown
    (and joins a visitor)."""
    event = _face_event(session, event_id=event_id)
    person = get_person(session, person_id=person_id)
    assert event.embedding is not None and event.model_version is not None
    negative = face_store.add_negative(
        session,
        person_id=person.id,
        embedding=event.embedding,
        model_version=event.model_version,
        event_id=event.id,
    )
    if event.person_id == person.id:
        event.person_id = None
        event.distance = None
        event.similarity = None
        if event.visitor_id is None:
            event.visitor_id = assign_visitor(
                session,
                embedding=event.embedding,
                model_version=event.model_version,
                seen_at=event.started_at,
                policy=policy,
            ).id
    event.labelled = True
    session.flush()
    return FeedbackOutcome(event=event, negative_id=negative.id)


def _face_event(session: Session, *, event_id: int) -> Event:
    event = get_event(session, event_id=event_id, with_images=True, lock=True)
    if event.erased or event.embedding is None or event.model_version is None:
        raise GalleryError("event_erased", f"event {event_id} no longer holds its face (erased)", status=409)
    return event
