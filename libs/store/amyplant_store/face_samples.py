"""Enrollment samples and negative samples of people (keyword-only repository functions)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session, undefer

from amyplant_store.errors import GalleryError, not_found
from amyplant_store.tables import Event, Face, NegativeSample
from amyplant_store.vectors import as_query


@dataclass(frozen=True)
class SampleData:
    """What an enrollment sample stores besides its person."""

    embedding: np.ndarray
    model_version: int
    crop_jpeg: bytes
    source_sha256: str
    box: tuple[float, float, float, float]
    detector_score: float
    size_px: float
    sharpness: float
    origin: str = "upload"


def sample_from_event(event: Event) -> SampleData:
    """An event's face as an enrollment sample (the event must still hold its descriptor and crop)."""
    if event.embedding is None or event.model_version is None or event.crop is None:
        raise GalleryError("event_erased", f"event {event.id} no longer holds its face", status=409)
    return SampleData(
        embedding=event.embedding,
        model_version=event.model_version,
        crop_jpeg=event.crop,
        source_sha256=hashlib.sha256(event.crop).hexdigest(),
        box=(event.box[0], event.box[1], event.box[2], event.box[3]),
        detector_score=event.detector_score,
        size_px=event.size_px,
        sharpness=event.sharpness,
        origin=f"event:{event.id}",
    )


def add_face(session: Session, *, person_id: int, sample: SampleData) -> Face:
    face = Face(
        person_id=person_id,
        embedding=as_query(sample.embedding),
        model_version=sample.model_version,
        crop=sample.crop_jpeg,
        source_sha256=sample.source_sha256,
        box=[float(v) for v in sample.box],
        detector_score=sample.detector_score,
        size_px=sample.size_px,
        sharpness=sample.sharpness,
        origin=sample.origin,
    )
    session.add(face)
    session.flush()
    return face


def list_faces(session: Session, *, person_id: int) -> list[Face]:
    return list(session.scalars(sa.select(Face).where(Face.person_id == person_id).order_by(Face.id)).all())


def get_face(session: Session, *, face_id: int, with_crop: bool = False) -> Face:
    statement = sa.select(Face).where(Face.id == face_id)
    if with_crop:
        statement = statement.options(undefer(Face.crop))
    face = session.scalars(statement).first()
    if face is None:
        raise not_found("face", face_id)
    return face


def delete_face(session: Session, *, person_id: int, face_id: int) -> None:
    deleted = session.execute(
        sa.delete(Face).where(Face.id == face_id, Face.person_id == person_id).returning(Face.id)
    ).first()
    if deleted is None:
        raise not_found("face", face_id)


def has_source(session: Session, *, person_id: int, source_sha256: str, model_version: int) -> bool:
    """Whether the person already has a sample made from these exact bytes with this model version."""
    return (
        session.scalar(
            sa.select(
                sa.exists().where(
                    Face.person_id == person_id,
                    Face.source_sha256 == source_sha256,
                    Face.model_version == model_version,
                )
            )
        )
        is True
    )


def add_negative(
    session: Session, *, person_id: int, embedding: np.ndarray, model_version: int, event_id: int | None
) -> NegativeSample:
    negative = NegativeSample(
        person_id=person_id, embedding=as_query(embedding), model_version=model_version, event_id=event_id
    )
    session.add(negative)
    session.flush()
    return negative


def count_negatives(session: Session, *, person_id: int) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(NegativeSample)
            .where(NegativeSample.person_id == person_id)
        )
        or 0
    )
