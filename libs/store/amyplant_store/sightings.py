"""A sighting's event row from one observed face, named (or not) by the caller: workers and the API share it.

Events are upserted per (camera, track) (events.upsert_event), so the same observation recorded twice
leaves one event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from amyplant_faces.pipeline.faces import FaceObservation
from amyplant_store.events import Sighting
from amyplant_store.stored_images import encode_crop


def sighting_of(
    face: FaceObservation,
    *,
    camera_id: str,
    track_id: str,
    seen_at: datetime,
    model_version: int,
    person_id: int | None,
    visitor_id: int | None,
    distance: float | None,
    similarity: float | None,
    snapshot_jpeg: bytes | None,
    details: dict[str, Any] | None = None,
) -> Sighting:
    """The event row's view of one observed face, named (or not) by the caller."""
    return Sighting(
        camera_id=camera_id,
        track_id=track_id,
        seen_at=seen_at,
        box=face.box,
        detector_score=face.score,
        size_px=face.quality.size_px,
        sharpness=face.quality.sharpness,
        embedding=face.embedding,
        model_version=model_version,
        age=face.age,
        gender=face.gender,
        person_id=person_id,
        visitor_id=visitor_id,
        distance=distance,
        similarity=similarity,
        snapshot_jpeg=snapshot_jpeg,
        crop_jpeg=encode_crop(face.chip),
        details=details or {},
    )
