"""Export and import of the whole gallery: a zip of JSON (people, samples, negatives, visitors, events)
plus the face crops and event snapshots.

Layout (format version 2): `manifest.json` (format, version, counts), `people.json` (each person with
their samples' descriptors, model versions and quality figures, and their negatives),
`crops/<sample id>.jpg`, and the sightings that transfer_sightings.py writes (`visitors.jsonl`,
`events.jsonl`, `events/<id>/*.jpg`). API keys stay behind: keys must never travel. Version 1 archives
(people only) still import. Import merges: a person whose name exists receives the samples, others are
created; a sample whose source hash and model version the person already has is skipped, and so are
events and visitors already there, so importing twice changes nothing.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session, undefer

from amyplant_gallery.transfer_sightings import (
    check_sightings,
    import_sightings,
    write_sightings,
)
from amyplant_store import face_samples as face_store
from amyplant_store.errors import GalleryError
from amyplant_store.people import create_person, find_by_name
from amyplant_store.tables import EMBEDDING_DIM, Face, NegativeSample, Person

FORMAT_NAME = "amyplant-gallery"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
SPOOL_BYTES = 32 * 1024 * 1024
# An archive may not unpack to more than this many times its own size (zip bombs).
MAX_EXPANSION = 20
JPEG_MAGIC = b"\xff\xd8\xff"


class SampleEntry(BaseModel):
    id: int
    model_version: int
    embedding: list[float] = Field(min_length=EMBEDDING_DIM, max_length=EMBEDDING_DIM)
    crop: str
    source_sha256: str = Field(max_length=64)
    box: list[float] = Field(min_length=4, max_length=4)
    detector_score: float
    size_px: float
    sharpness: float
    origin: str = "upload"


class NegativeEntry(BaseModel):
    model_version: int
    embedding: list[float] = Field(min_length=EMBEDDING_DIM, max_length=EMBEDDING_DIM)


class PersonEntry(BaseModel):
    name: str
    notes: str = ""
    alert: bool = False
    faces: list[SampleEntry] = Field(default_factory=list)
    negatives: list[NegativeEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    people_created: int
    people_matched: int
    faces_added: int
    faces_skipped: int
    negatives_added: int
    visitors_created: int
    visitors_matched: int
    events_added: int
    events_skipped: int


def export_gallery(session: Session) -> IO[bytes]:
    """The gallery as a zip in a temporary file (kept in memory up to 32 MiB), positioned at its start."""
    people = session.scalars(sa.select(Person).order_by(Person.id)).all()
    entries = []
    archive_file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(archive_file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for person in people:
            faces = session.scalars(
                sa.select(Face)
                .options(undefer(Face.crop))
                .where(Face.person_id == person.id)
                .order_by(Face.id)
            ).all()
            negatives = session.scalars(
                sa.select(NegativeSample)
                .where(NegativeSample.person_id == person.id)
                .order_by(NegativeSample.id)
            ).all()
            for face in faces:
                archive.writestr(f"crops/{face.id}.jpg", face.crop)
            entries.append(
                PersonEntry(
                    name=person.name,
                    notes=person.notes,
                    alert=person.alert,
                    faces=[_sample_entry(face) for face in faces],
                    negatives=[
                        NegativeEntry(model_version=n.model_version, embedding=_floats(n.embedding))
                        for n in negatives
                    ],
                ).model_dump()
            )
        archive.writestr("people.json", json.dumps(entries))
        sightings = write_sightings(session, archive, names={person.id: person.name for person in people})
        archive.writestr(
            "manifest.json",
            json.dumps(
                {
                    "format": FORMAT_NAME,
                    "version": FORMAT_VERSION,
                    "exported_at": datetime.now(UTC).isoformat(),
                    "people": len(entries),
                    "faces": sum(len(e["faces"]) for e in entries),
                    "negatives": sum(len(e["negatives"]) for e in entries),
                    "visitors": sightings.visitors,
                    "events": sightings.events,
                }
            ),
        )
    archive_file.seek(0)
    return archive_file


def _floats(vector: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(vector, dtype=np.float32)]


def _sample_entry(face: Face) -> SampleEntry:
    return SampleEntry(
        id=face.id,
        model_version=face.model_version,
        embedding=_floats(face.embedding),
        crop=f"crops/{face.id}.jpg",
        source_sha256=face.source_sha256,
        box=list(face.box),
        detector_score=face.detector_score,
        size_px=face.size_px,
        sharpness=face.sharpness,
        origin=face.origin,
    )


def read_archive(stream: IO[bytes], *, archive_bytes: int) -> tuple[zipfile.ZipFile, list[PersonEntry]]:
    """Open and validate an export; every problem is a 422 GalleryError naming the part at fault."""
    try:
        archive = zipfile.ZipFile(stream)
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise GalleryError("invalid_archive", f"not a zip archive: {error}", status=422) from error
    unpacked = sum(member.file_size for member in members)
    if unpacked > MAX_EXPANSION * max(archive_bytes, 1):
        raise GalleryError(
            "invalid_archive", f"the archive unpacks to {unpacked} bytes, too much for its size", status=422
        )
    manifest = _json_member(archive, "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise GalleryError(
            "invalid_archive", "manifest.json does not describe an amyplant gallery export", status=422
        )
    if manifest.get("version") not in READABLE_VERSIONS:
        raise GalleryError(
            "invalid_archive",
            f"export format version {manifest.get('version')} is not "
            f"supported (this gallery reads versions {', '.join(map(str, READABLE_VERSIONS))})",
            status=422,
        )
    raw_people = _json_member(archive, "people.json")
    if not isinstance(raw_people, list):
        raise GalleryError("invalid_archive", "people.json must hold a list of people", status=422)
    people = []
    for position, raw in enumerate(raw_people):
        try:
            people.append(PersonEntry.model_validate(raw))
        except ValidationError as error:
            raise GalleryError(
                "invalid_archive",
                f"people.json entry {position} is invalid: {error.errors()[0]['msg']}",
                status=422,
            ) from error
    check_sightings(archive)
    return archive, people


def _json_member(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(archive.read(name))
    except KeyError as error:
        raise GalleryError("invalid_archive", f"the archive has no {name}", status=422) from error
    except (ValueError, zipfile.BadZipFile, OSError) as error:
        raise GalleryError("invalid_archive", f"{name} cannot be read: {error}", status=422) from error


def import_gallery(session: Session, *, archive: zipfile.ZipFile, people: list[PersonEntry]) -> ImportSummary:
    """Merge the archive's people, samples, negatives, visitors and events into this gallery."""
    created = matched = added = skipped = negatives = 0
    person_ids: dict[str, int] = {}
    for entry in people:
        person = find_by_name(session, name=entry.name)
        if person is None:
            person = create_person(session, name=entry.name, notes=entry.notes, alert=entry.alert)
            created += 1
        else:
            matched += 1
        person_ids[entry.name] = person.id
        for sample in entry.faces:
            if face_store.has_source(
                session,
                person_id=person.id,
                source_sha256=sample.source_sha256,
                model_version=sample.model_version,
            ):
                skipped += 1
                continue
            face_store.add_face(session, person_id=person.id, sample=_sample_data(archive, sample))
            added += 1
        for negative in entry.negatives:
            face_store.add_negative(
                session,
                person_id=person.id,
                embedding=np.asarray(negative.embedding),
                model_version=negative.model_version,
                event_id=None,
            )
            negatives += 1
    sightings = import_sightings(session, archive=archive, person_ids=person_ids)
    return ImportSummary(
        people_created=created,
        people_matched=matched,
        faces_added=added,
        faces_skipped=skipped,
        negatives_added=negatives,
        visitors_created=sightings.visitors_created,
        visitors_matched=sightings.visitors_matched,
        events_added=sightings.events_added,
        events_skipped=sightings.events_skipped,
    )


def _sample_data(archive: zipfile.ZipFile, sample: SampleEntry) -> face_store.SampleData:
    try:
        crop = archive.read(sample.crop)
    except KeyError as error:
        raise GalleryError("invalid_archive", f"the archive has no {sample.crop}", status=422) from error
    if not crop.startswith(JPEG_MAGIC):
        raise GalleryError("invalid_archive", f"{sample.crop} is not a JPEG image", status=422)
    embedding = np.asarray(sample.embedding, dtype=np.float32)
    if not np.all(np.isfinite(embedding)):
        raise GalleryError("invalid_archive", f"sample {sample.id} has a non-finite descriptor", status=422)
    return face_store.SampleData(
        embedding=embedding,
        model_version=sample.model_version,
        crop_jpeg=crop,
        source_sha256=sample.source_sha256,
        box=(sample.box[0], sample.box[1], sample.box[2], sample.box[3]),
        detector_score=sample.detector_score,
        size_px=sample.size_px,
        sharpness=sample.sharpness,
        origin=sample.origin,
    )
