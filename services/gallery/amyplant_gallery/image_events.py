"""Events from one uploaded image (POST /api/v1/events): every face named and written as its own sighting."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session

from amyplant_faces.pipeline.faces import FaceObservation, FacePipeline
from amyplant_gallery.analysis import analyse
from amyplant_store.events import find_event, upsert_event
from amyplant_store.matching import Match, match_embedding
from amyplant_store.policy import DEFAULT_TOP_K, GalleryPolicy
from amyplant_store.sightings import sighting_of
from amyplant_store.stored_images import encode_snapshot
from amyplant_store.visitors import assign_visitor


@dataclass(frozen=True)
class RecordedFace:
    """One face written as an event, with how it was named."""

    event_id: int
    face: FaceObservation
    match: Match
    visitor_id: int | None


def record_observation(
    session: Session,
    *,
    camera_id: str,
    track_id: str,
    seen_at: datetime,
    face: FaceObservation,
    model_version: int,
    snapshot_jpeg: bytes | None,
    policy: GalleryPolicy,
    threshold: float | None = None,
) -> RecordedFace:
    """Match one face and upsert its track's event; an unknown face is clustered into a visitor once per
    track (a track that already has a visitor keeps it)."""
    match = match_embedding(
        session,
        embedding=face.embedding,
        model_version=model_version,
        threshold=policy.match_threshold if threshold is None else threshold,
        top_k=DEFAULT_TOP_K,
        candidates=policy.candidates,
    )
    visitor_id = None
    if match.person is None:
        existing = find_event(session, camera_id=camera_id, track_id=track_id)
        if existing is not None and existing.visitor_id is not None:
            visitor_id = existing.visitor_id
        else:
            visitor_id = assign_visitor(
                session, embedding=face.embedding, model_version=model_version, seen_at=seen_at, policy=policy
            ).id
    event_id = upsert_event(
        session,
        sighting=sighting_of(
            face,
            camera_id=camera_id,
            track_id=track_id,
            seen_at=seen_at,
            model_version=model_version,
            person_id=match.person.person_id if match.person else None,
            visitor_id=visitor_id,
            distance=match.person.distance if match.person else None,
            similarity=match.person.similarity if match.person else None,
            snapshot_jpeg=snapshot_jpeg,
        ),
    )
    return RecordedFace(event_id=event_id, face=face, match=match, visitor_id=visitor_id)


def record_image(
    session: Session,
    *,
    pipeline: FacePipeline,
    rgb: np.ndarray,
    camera_id: str,
    seen_at: datetime,
    track_id: str | None,
    policy: GalleryPolicy,
    threshold: float | None = None,
) -> list[RecordedFace]:
    """Every face of one image as its own event; face i's track is `<track_id>/<i>`."""
    analysis = analyse(pipeline, rgb)
    if not analysis.faces:
        return []
    base = track_id or uuid.uuid4().hex
    snapshot = encode_snapshot(rgb)
    return [
        record_observation(
            session,
            camera_id=camera_id,
            track_id=f"{base}/{index}",
            seen_at=seen_at,
            face=face,
            model_version=analysis.model_version,
            snapshot_jpeg=snapshot,
            policy=policy,
            threshold=threshold,
        )
        for index, face in enumerate(analysis.faces)
    ]
