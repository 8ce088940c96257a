"""Visitors and events in a gallery export: written as JSON lines beside their images, merged on import.

`visitors.jsonl` holds one visitor per line (its archive id, centroid, counts, times, and the name of the
person it was named as); `events.jsonl` one event per line, referring to people by name and to visitors
by archive id, with `events/<archive id>/snapshot.jpg` and `crop.jpg` when the event still has them
(an erased event travels erased). Import merges: an event whose (camera, track) exists is skipped, and a
visitor with the same model version and first and last sighting times is reused, so importing twice
changes nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session, undefer

from amyplant_store.errors import GalleryError
from amyplant_store.tables import EMBEDDING_DIM, Event, Visitor

VISITORS_MEMBER = "visitors.jsonl"
EVENTS_MEMBER = "events.jsonl"
JPEG_MAGIC = b"\xff\xd8\xff"
BATCH = 500
Entry = TypeVar("Entry", bound=BaseModel)


class VisitorEntry(BaseModel):
    id: int
    label: str = ""
    centroid: list[float] = Field(min_length=EMBEDDING_DIM, max_length=EMBEDDING_DIM)
    model_version: int
    face_count: int = Field(ge=0)
    person: str | None = None
    first_seen: datetime
    last_seen: datetime


class EventEntry(BaseModel):
    id: int
    camera_id: str = Field(min_length=1)
    track_id: str = Field(min_length=1)
    started_at: datetime
    ended_at: datetime
    person: str | None = None
    visitor: int | None = None
    similarity: float | None = None
    distance: float | None = None
    age: float | None = None
    gender: str | None = None
    box: list[float] = Field(min_length=4, max_length=4)
    detector_score: float
    size_px: float
    sharpness: float
    embedding: list[float] | None = Field(None, min_length=EMBEDDING_DIM, max_length=EMBEDDING_DIM)
    model_version: int | None = None
    snapshot: str | None = None
    crop: str | None = None
    labelled: bool = False
    erased: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class SightingCounts:
    visitors: int
    events: int


@dataclass(frozen=True)
class SightingImport:
    visitors_created: int
    visitors_matched: int
    events_added: int
    events_skipped: int


def _floats(vector: Any) -> list[float]:
    return [float(v) for v in np.asarray(vector, dtype=np.float32)]


def write_sightings(session: Session, archive: zipfile.ZipFile, *, names: dict[int, str]) -> SightingCounts:
    """Write every visitor and event (with their images) into the archive being made; `names` maps the
    exported people's ids to their names, by which sightings refer to them."""
    visitors = 0
    with archive.open(VISITORS_MEMBER, "w", force_zip64=True) as out:
        for visitor in session.scalars(sa.select(Visitor).order_by(Visitor.id)):
            entry = VisitorEntry(
                id=visitor.id,
                label=visitor.label,
                centroid=_floats(visitor.centroid),
                model_version=visitor.model_version,
                face_count=visitor.face_count,
                person=names.get(visitor.person_id) if visitor.person_id is not None else None,
                first_seen=visitor.first_seen,
                last_seen=visitor.last_seen,
            )
            out.write(entry.model_dump_json().encode() + b"\n")
            visitors += 1
    events = 0
    query = (
        sa.select(Event)
        .options(undefer(Event.snapshot), undefer(Event.crop))
        .order_by(Event.id)
        .execution_options(yield_per=BATCH)
    )
    # A zip takes one member at a time: the images go in as each event is read, its JSON line into a
    # temporary file that becomes events.jsonl at the end, so memory stays flat however many events.
    with tempfile.TemporaryFile() as pending:
        for event in session.scalars(query):
            pending.write(_event_entry(event, names, archive).model_dump_json().encode() + b"\n")
            session.expunge(event)
            events += 1
        pending.seek(0)
        with archive.open(EVENTS_MEMBER, "w", force_zip64=True) as out:
            shutil.copyfileobj(pending, out)
    return SightingCounts(visitors=visitors, events=events)


# Event columns that travel as they are; the others are references or images, translated below.
PLAIN_EVENT_FIELDS = (
    "camera_id",
    "track_id",
    "started_at",
    "ended_at",
    "similarity",
    "distance",
    "age",
    "gender",
    "box",
    "detector_score",
    "size_px",
    "sharpness",
    "model_version",
    "labelled",
    "erased",
    "details",
)


def _event_entry(event: Event, names: dict[int, str], archive: zipfile.ZipFile) -> EventEntry:
    images: dict[str, str | None] = {"snapshot": None, "crop": None}
    for kind, data in (("snapshot", event.snapshot), ("crop", event.crop)):
        if data:
            path = f"events/{event.id}/{kind}.jpg"
            archive.writestr(path, data)
            images[kind] = path
    return EventEntry(
        **{name: getattr(event, name) for name in PLAIN_EVENT_FIELDS},
        id=event.id,
        person=names.get(event.person_id) if event.person_id is not None else None,
        visitor=event.visitor_id,
        embedding=None if event.embedding is None else _floats(event.embedding),
        **images,
    )


def _entries(archive: zipfile.ZipFile, member: str, model: type[Entry]) -> Iterator[Entry]:
    """Validated entries of a JSON-lines member (absent from version 1 archives: nothing)."""
    if member not in archive.namelist():
        return
    with archive.open(member) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield model.model_validate(json.loads(line))
            except (ValueError, ValidationError) as error:
                reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
                raise GalleryError(
                    "invalid_archive", f"{member} line {number} is invalid: {reason}", status=422
                ) from error


def check_sightings(archive: zipfile.ZipFile) -> None:
    """Validate both members before anything is written (a bad line is a 422, not a half import)."""
    visitor_ids = {entry.id for entry in _entries(archive, VISITORS_MEMBER, VisitorEntry)}
    names = set(archive.namelist())
    for entry in _entries(archive, EVENTS_MEMBER, EventEntry):
        if entry.visitor is not None and entry.visitor not in visitor_ids:
            raise GalleryError(
                "invalid_archive",
                f"event {entry.id} refers to visitor {entry.visitor}, not in the archive",
                status=422,
            )
        for image in (entry.snapshot, entry.crop):
            if image is not None and image not in names:
                raise GalleryError("invalid_archive", f"the archive has no {image}", status=422)


def import_sightings(
    session: Session, *, archive: zipfile.ZipFile, person_ids: dict[str, int]
) -> SightingImport:
    """Merge the archive's visitors and events; `person_ids` maps the names of the imported people."""
    visitor_ids, created, matched = _import_visitors(session, archive, person_ids)
    added = skipped = 0
    for entry in _entries(archive, EVENTS_MEMBER, EventEntry):
        exists = session.scalar(
            sa.select(Event.id).where(Event.camera_id == entry.camera_id, Event.track_id == entry.track_id)
        )
        if exists is not None:
            skipped += 1
            continue
        session.add(_event_row(entry, archive, person_ids, visitor_ids))
        added += 1
        if added % BATCH == 0:
            session.flush()
            session.expunge_all()
    session.flush()
    return SightingImport(created, matched, added, skipped)


def _import_visitors(
    session: Session, archive: zipfile.ZipFile, person_ids: dict[str, int]
) -> tuple[dict[int, int], int, int]:
    mapping: dict[int, int] = {}
    created = matched = 0
    for entry in _entries(archive, VISITORS_MEMBER, VisitorEntry):
        existing = session.scalar(
            sa.select(Visitor.id).where(
                Visitor.model_version == entry.model_version,
                Visitor.first_seen == entry.first_seen,
                Visitor.last_seen == entry.last_seen,
            )
        )
        if existing is not None:
            mapping[entry.id] = int(existing)
            matched += 1
            continue
        visitor = Visitor(
            label=entry.label,
            centroid=np.asarray(entry.centroid, dtype=np.float32),
            model_version=entry.model_version,
            face_count=entry.face_count,
            person_id=person_ids.get(entry.person) if entry.person else None,
            first_seen=entry.first_seen,
            last_seen=entry.last_seen,
        )
        session.add(visitor)
        session.flush()
        mapping[entry.id] = visitor.id
        created += 1
    return mapping, created, matched


def _image(archive: zipfile.ZipFile, path: str | None) -> bytes | None:
    if path is None:
        return None
    data = archive.read(path)
    if not data.startswith(JPEG_MAGIC):
        raise GalleryError("invalid_archive", f"{path} is not a JPEG image", status=422)
    return data


def _event_row(
    entry: EventEntry, archive: zipfile.ZipFile, person_ids: dict[str, int], visitor_ids: dict[int, int]
) -> Event:
    embedding = None if entry.embedding is None else np.asarray(entry.embedding, dtype=np.float32)
    if embedding is not None and not np.all(np.isfinite(embedding)):
        raise GalleryError("invalid_archive", f"event {entry.id} has a non-finite descriptor", status=422)
    return Event(
        **entry.model_dump(include=set(PLAIN_EVENT_FIELDS)),
        person_id=person_ids.get(entry.person) if entry.person else None,
        visitor_id=visitor_ids.get(entry.visitor) if entry.visitor is not None else None,
        embedding=embedding,
        snapshot=_image(archive, entry.snapshot),
        crop=_image(archive, entry.crop),
    )
