"""Events (sightings): idempotent upserts by camera and track, filtered listing, labels and erasure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, undefer

from amyplant_store.errors import not_found
from amyplant_store.tables import Event, Person
from amyplant_store.vectors import as_query


@dataclass(frozen=True)
class Sighting:
    """One observation of a face to record: the event of its (camera, track) is created or updated."""

    camera_id: str
    track_id: str
    seen_at: datetime
    box: tuple[float, float, float, float]
    detector_score: float
    size_px: float
    sharpness: float
    embedding: np.ndarray
    model_version: int
    age: float | None = None
    gender: str | None = None
    person_id: int | None = None
    visitor_id: int | None = None
    distance: float | None = None
    similarity: float | None = None
    snapshot_jpeg: bytes | None = None
    crop_jpeg: bytes | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventFilter:
    """Which events to list."""

    person_id: int | None = None
    visitor_id: int | None = None
    camera_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    unknown_only: bool = False


def upsert_event(session: Session, *, sighting: Sighting) -> int:
    """Create the track's event, or widen its time span; the face, snapshot and crop are replaced when the
    new face is at least as large (a larger face makes a better snapshot). A person or visitor decided by
    the caller replaces the stored one unless a user labelled the event. Returns the event id."""
    values: dict[str, Any] = {
        "camera_id": sighting.camera_id,
        "track_id": sighting.track_id,
        "started_at": sighting.seen_at,
        "ended_at": sighting.seen_at,
        "person_id": sighting.person_id,
        "visitor_id": sighting.visitor_id,
        "distance": sighting.distance,
        "similarity": sighting.similarity,
        "age": sighting.age,
        "gender": sighting.gender,
        "box": [float(v) for v in sighting.box],
        "detector_score": sighting.detector_score,
        "size_px": sighting.size_px,
        "sharpness": sighting.sharpness,
        "embedding": as_query(sighting.embedding),
        "model_version": sighting.model_version,
        "snapshot": sighting.snapshot_jpeg,
        "crop": sighting.crop_jpeg,
        "details": sighting.details,
    }
    statement = insert(Event).values(**values)
    excluded = statement.excluded
    better = excluded.size_px >= Event.size_px
    face_columns = (
        "box",
        "detector_score",
        "size_px",
        "sharpness",
        "embedding",
        "model_version",
        "snapshot",
        "crop",
        "age",
        "gender",
    )
    updates: dict[str, Any] = {
        name: sa.case((sa.and_(better, sa.not_(Event.erased)), excluded[name]), else_=getattr(Event, name))
        for name in face_columns
    }
    for name in ("person_id", "visitor_id", "distance", "similarity"):
        updates[name] = sa.case((Event.labelled, getattr(Event, name)), else_=excluded[name])
    updates["started_at"] = sa.func.least(Event.started_at, excluded.started_at)
    updates["ended_at"] = sa.func.greatest(Event.ended_at, excluded.ended_at)
    updates["details"] = Event.details.op("||")(excluded.details)
    upsert = statement.on_conflict_do_update(constraint="events_camera_track_key", set_=updates)
    return int(session.execute(upsert.returning(Event.id)).scalar_one())


def extend_event(
    session: Session, *, camera_id: str, track_id: str, seen_at: datetime, details: dict[str, Any]
) -> tuple[int, int | None] | None:
    """Widen a track's event to a face that brought no new evidence (see the worker's reuse.py): its time
    span and details only, the face, snapshot and identity stay. Returns (event id, visitor id), or None
    when the track has no event (not yet written, or erased)."""
    statement = (
        sa.update(Event)
        .where(Event.camera_id == camera_id, Event.track_id == track_id)
        .values(
            started_at=sa.func.least(Event.started_at, seen_at),
            ended_at=sa.func.greatest(Event.ended_at, seen_at),
            details=Event.details.op("||")(sa.cast(details, Event.details.type)),
        )
        .returning(Event.id, Event.visitor_id)
    )
    row = session.execute(statement).first()
    return (int(row.id), row.visitor_id) if row is not None else None


def find_event(session: Session, *, camera_id: str, track_id: str) -> Event | None:
    return session.scalars(
        sa.select(Event).where(Event.camera_id == camera_id, Event.track_id == track_id)
    ).first()


def get_event(session: Session, *, event_id: int, with_images: bool = False, lock: bool = False) -> Event:
    statement = sa.select(Event).where(Event.id == event_id)
    if with_images:
        statement = statement.options(undefer(Event.snapshot), undefer(Event.crop))
    if lock:
        statement = statement.with_for_update()
    event = session.scalars(statement).first()
    if event is None:
        raise not_found("event", event_id)
    return event


def _conditions(filters: EventFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.person_id is not None:
        conditions.append(Event.person_id == filters.person_id)
    if filters.visitor_id is not None:
        conditions.append(Event.visitor_id == filters.visitor_id)
    if filters.camera_id is not None:
        conditions.append(Event.camera_id == filters.camera_id)
    if filters.since is not None:
        conditions.append(Event.ended_at >= filters.since)
    if filters.until is not None:
        conditions.append(Event.started_at <= filters.until)
    if filters.unknown_only:
        conditions.append(Event.person_id.is_(None))
    return conditions


def list_events(
    session: Session, *, filters: EventFilter, limit: int, offset: int
) -> tuple[list[Event], int]:
    """A page of events, newest first, and how many match the filters."""
    conditions = _conditions(filters)
    total = session.scalar(sa.select(sa.func.count()).select_from(Event).where(*conditions)) or 0
    page = session.scalars(
        sa.select(Event)
        .where(*conditions)
        .order_by(Event.started_at.desc(), Event.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(page), int(total)


def events_by_ids(session: Session, *, ids: list[int]) -> dict[int, Event]:
    return {event.id: event for event in session.scalars(sa.select(Event).where(Event.id.in_(ids)))}


def person_names(session: Session, *, events: list[Event]) -> dict[int, str]:
    """Names of the people these events name."""
    ids = {event.person_id for event in events if event.person_id is not None}
    if not ids:
        return {}
    rows = session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(ids))).all()
    return {int(person_id): str(name) for person_id, name in rows}


def erase_person_events(session: Session, *, person_id: int) -> int:
    """Remove the biometric data (snapshot, crop, descriptor) of every event naming the person."""
    result = session.execute(
        sa.update(Event)
        .where(Event.person_id == person_id)
        .values(snapshot=None, crop=None, embedding=None, model_version=None, erased=True)
        .returning(Event.id)
    )
    return len(result.all())
