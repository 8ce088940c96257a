"""Unknown visitors: incremental clustering of unmatched faces into persistent ids, listing and naming.

Clustering is leader-follower on centroids: an unknown face joins the unnamed visitor whose centroid (the
running mean of its raw descriptors) is nearest, when within `policy.visitor_threshold` (Euclidean, same
embedder version); otherwise it starts a new visitor. Assignments are serialised by a transaction-level
advisory lock, so two workers seeing one new face at once cannot create two visitors for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, undefer

from amyplant_store import face_samples as face_store
from amyplant_store.errors import GalleryError, not_found
from amyplant_store.people import get_or_create_person, get_person
from amyplant_store.policy import GalleryPolicy
from amyplant_store.tables import Event, Person, Visitor
from amyplant_store.vectors import as_query, nearest_faces, nearest_visitors

VISITOR_LOCK_KEY = 7_301_925


@dataclass(frozen=True)
class NamingOutcome:
    """What naming a visitor did."""

    person: Person
    samples_added: int
    events_named: int


def assign_visitor(
    session: Session, *, embedding: np.ndarray, model_version: int, seen_at: datetime, policy: GalleryPolicy
) -> Visitor:
    """The visitor this unknown face belongs to (updated with it), or a new one."""
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(VISITOR_LOCK_KEY)))
    nearest = nearest_visitors(session, embedding=embedding, model_version=model_version, candidates=16)
    if nearest and nearest[0].distance <= policy.visitor_threshold:
        visitor = session.scalars(
            sa.select(Visitor).where(Visitor.id == nearest[0].owner_id).with_for_update()
        ).one()
        count = visitor.face_count
        centroid = (np.asarray(visitor.centroid, dtype=np.float64) * count + as_query(embedding)) / (
            count + 1
        )
        visitor.centroid = centroid.astype(np.float32)
        visitor.face_count = count + 1
        visitor.first_seen = min(visitor.first_seen, seen_at)
        visitor.last_seen = max(visitor.last_seen, seen_at)
    else:
        visitor = Visitor(
            centroid=as_query(embedding),
            model_version=model_version,
            face_count=1,
            first_seen=seen_at,
            last_seen=seen_at,
        )
        session.add(visitor)
    session.flush()
    return visitor


def get_visitor(session: Session, *, visitor_id: int) -> Visitor:
    visitor = session.get(Visitor, visitor_id)
    if visitor is None:
        raise not_found("visitor", visitor_id)
    return visitor


def count_events(session: Session, *, visitor_id: int) -> int:
    return int(
        session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.visitor_id == visitor_id))
        or 0
    )


def list_visitors(
    session: Session, *, named: bool | None, limit: int, offset: int
) -> tuple[list[tuple[Visitor, int]], int]:
    """A page of visitors, most recently seen first, each with its number of events; and the total."""
    condition: sa.ColumnElement[bool] = sa.true()
    if named is True:
        condition = Visitor.person_id.is_not(None)
    elif named is False:
        condition = Visitor.person_id.is_(None)
    total = session.scalar(sa.select(sa.func.count()).select_from(Visitor).where(condition)) or 0
    events = (
        sa.select(sa.func.count()).select_from(Event).where(Event.visitor_id == Visitor.id).scalar_subquery()
    )
    rows = session.execute(
        sa.select(Visitor, events)
        .where(condition)
        .order_by(Visitor.last_seen.desc(), Visitor.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(visitor, int(count)) for visitor, count in rows], int(total)


def update_visitor_label(session: Session, *, visitor_id: int, label: str) -> Visitor:
    visitor = get_visitor(session, visitor_id=visitor_id)
    visitor.label = label.strip()
    session.flush()
    return visitor


def best_crop(session: Session, *, visitor_id: int) -> bytes | None:
    """The crop of the visitor's largest face, for a thumbnail."""
    event = session.scalars(
        sa.select(Event)
        .options(undefer(Event.crop))
        .where(Event.visitor_id == visitor_id, Event.crop.is_not(None))
        .order_by(Event.size_px.desc())
        .limit(1)
    ).first()
    return event.crop if event is not None else None


def name_visitor(
    session: Session, *, visitor_id: int, person_id: int | None, name: str | None, policy: GalleryPolicy
) -> NamingOutcome:
    """Give the visitor a name: its events now name the person, and its best faces become samples."""
    if (person_id is None) == (name is None):
        raise GalleryError("invalid_request", "give either person_id or name", status=422)
    visitor = session.scalars(sa.select(Visitor).where(Visitor.id == visitor_id).with_for_update()).first()
    if visitor is None:
        raise not_found("visitor", visitor_id)
    if visitor.person_id is not None:
        raise GalleryError(
            "visitor_already_named",
            f"visitor {visitor_id} is already person {visitor.person_id}",
            status=409,
            person_id=visitor.person_id,
        )
    person = (
        get_person(session, person_id=person_id)
        if person_id is not None
        else get_or_create_person(session, name=name or "")
    )
    added = _enroll_visitor_faces(session, visitor_id=visitor_id, person=person, policy=policy)
    named = session.execute(
        sa.update(Event)
        .where(Event.visitor_id == visitor_id, Event.labelled.is_(False))
        .values(person_id=person.id, labelled=True)
        .returning(Event.id)
    ).all()
    visitor.person_id = person.id
    session.flush()
    return NamingOutcome(person=person, samples_added=added, events_named=len(named))


def _enroll_visitor_faces(session: Session, *, visitor_id: int, person: Person, policy: GalleryPolicy) -> int:
    """Copy the visitor's largest faces into samples, skipping near-duplicates of samples already there."""
    events = session.scalars(
        sa.select(Event)
        .options(undefer(Event.crop))
        .where(Event.visitor_id == visitor_id, Event.embedding.is_not(None), Event.crop.is_not(None))
        .order_by(Event.size_px.desc())
        .limit(policy.visitor_samples * 3)
    ).all()
    added = 0
    for event in events:
        if added >= policy.visitor_samples or event.embedding is None or event.model_version is None:
            break
        near = nearest_faces(
            session, embedding=event.embedding, model_version=event.model_version, candidates=1
        )
        if near and near[0].distance <= policy.duplicate_distance:
            continue
        face_store.add_face(session, person_id=person.id, sample=face_store.sample_from_event(event))
        added += 1
    return added


def delete_person_visitors(session: Session, *, person_id: int) -> int:
    """Delete the visitors that became this person (their centroids are biometric templates)."""
    return len(
        session.execute(sa.delete(Visitor).where(Visitor.person_id == person_id).returning(Visitor.id)).all()
    )
