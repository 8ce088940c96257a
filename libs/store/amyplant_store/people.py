"""People: create, find, list, rename, merge and delete (keyword-only repository functions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from amyplant_store.errors import GalleryError, not_found
from amyplant_store.tables import Event, Face, NegativeSample, Person, Visitor
from amyplant_store.text import check_text, normalise_name

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class PersonSummary:
    """A person with the number of samples and sightings they have."""

    person: Person
    face_count: int
    event_count: int


def clean_name(name: str) -> str:
    """A person's name as stored and compared: every name that enters goes through here (the API, visitor
    naming, import). Control characters are refused, the rest normalised (`normalise_name`)."""
    cleaned = normalise_name(check_text(name, field="name"))
    if not cleaned:
        raise GalleryError("invalid_name", "a person's name cannot be empty", status=422)
    if len(cleaned) > MAX_NAME_LENGTH:
        raise GalleryError("invalid_name", f"a name has at most {MAX_NAME_LENGTH} characters", status=422)
    return cleaned


def find_by_name(session: Session, *, name: str) -> Person | None:
    """The person with this name, compared without case."""
    return session.scalars(
        sa.select(Person).where(sa.func.lower(Person.name) == clean_name(name).lower())
    ).first()


def _refuse_taken_name(session: Session, *, name: str, except_id: int | None = None) -> None:
    existing = find_by_name(session, name=name)
    if existing is not None and existing.id != except_id:
        raise GalleryError(
            "person_exists",
            f"a person named {existing.name!r} already exists (id {existing.id})",
            status=409,
            person_id=existing.id,
        )


def create_person(session: Session, *, name: str, notes: str = "", alert: bool = False) -> Person:
    cleaned = clean_name(name)
    _refuse_taken_name(session, name=cleaned)
    person = Person(name=cleaned, notes=check_text(notes, field="notes", multiline=True), alert=alert)
    session.add(person)
    session.flush()
    session.refresh(person)
    return person


def get_or_create_person(session: Session, *, name: str) -> Person:
    return find_by_name(session, name=name) or create_person(session, name=name)


def get_person(session: Session, *, person_id: int, lock: bool = False) -> Person:
    """The person, or a 404 GalleryError; `lock` holds the row until the transaction ends."""
    statement = sa.select(Person).where(Person.id == person_id)
    if lock:
        statement = statement.with_for_update()
    person = session.scalars(statement).first()
    if person is None:
        raise not_found("person", person_id)
    return person


def _counts(session: Session, statement: sa.Select[Any, Any]) -> dict[int, int]:
    grouped = statement.group_by(statement.selected_columns[0])
    return {int(row[0]): int(row[1]) for row in session.execute(grouped) if row[0] is not None}


def summarise(session: Session, *, people: list[Person]) -> list[PersonSummary]:
    """Sample and event counts for several people in two queries."""
    ids = [person.id for person in people]
    faces = _counts(session, sa.select(Face.person_id, sa.func.count()).where(Face.person_id.in_(ids)))
    events = _counts(session, sa.select(Event.person_id, sa.func.count()).where(Event.person_id.in_(ids)))
    return [PersonSummary(p, int(faces.get(p.id, 0)), int(events.get(p.id, 0))) for p in people]


def list_people(session: Session, *, query: str | None, limit: int, offset: int) -> tuple[list[Person], int]:
    """A page of people ordered by name, optionally those whose name contains `query`; and the total."""
    condition: sa.ColumnElement[bool] = sa.true()
    if query:
        escaped = normalise_name(query).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        condition = Person.name.ilike(f"%{escaped}%", escape="\\")
    total = session.scalar(sa.select(sa.func.count()).select_from(Person).where(condition)) or 0
    page = session.scalars(
        sa.select(Person)
        .where(condition)
        .order_by(sa.func.lower(Person.name), Person.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(page), int(total)


def update_person(
    session: Session,
    *,
    person_id: int,
    name: str | None = None,
    notes: str | None = None,
    alert: bool | None = None,
) -> Person:
    person = get_person(session, person_id=person_id, lock=True)
    if name is not None:
        cleaned = clean_name(name)
        _refuse_taken_name(session, name=cleaned, except_id=person.id)
        person.name = cleaned
    if notes is not None:
        person.notes = check_text(notes, field="notes", multiline=True)
    if alert is not None:
        person.alert = alert
    person.updated_at = sa.func.now()  # type: ignore[assignment]
    session.flush()
    session.refresh(person)
    return person


def merge_people(session: Session, *, into_id: int, from_id: int) -> Person:
    """Move all of person `from_id` (samples, negatives, events, visitors) to `into_id`, then delete them."""
    if into_id == from_id:
        raise GalleryError("same_person", "a person cannot be merged into themselves", status=422)
    # Lock both rows in id order, so two concurrent merges cannot deadlock.
    for person_id in sorted((into_id, from_id)):
        get_person(session, person_id=person_id, lock=True)
    for table in (Face, NegativeSample, Event, Visitor):
        session.execute(sa.update(table).where(table.person_id == from_id).values(person_id=into_id))
    session.execute(sa.delete(Person).where(Person.id == from_id))
    session.flush()
    return get_person(session, person_id=into_id)


def delete_person(session: Session, *, person_id: int) -> None:
    """Delete the person; samples and negatives go with them, events and visitors lose the link."""
    get_person(session, person_id=person_id, lock=True)
    session.execute(sa.delete(Person).where(Person.id == person_id))
    session.flush()
