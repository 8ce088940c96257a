"""Bodies of recognize, verify and search."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from amyplant_gallery.recognition import Recognition, SearchHit, Verification
from amyplant_gallery.schemas.common import FACE_EXAMPLE, FaceOut
from amyplant_store.matching import Candidate

DISTANCE_DESCRIPTION = (
    "Euclidean distance between raw descriptors; the threshold applies to it (0.6 default)."
)
SIMILARITY_DESCRIPTION = "Cosine similarity of the descriptors (1 = identical); for display and sorting."


class CandidateOut(BaseModel):
    person_id: int
    name: str
    distance: float = Field(description=DISTANCE_DESCRIPTION)
    similarity: float = Field(description=SIMILARITY_DESCRIPTION)
    negative_distance: float | None = Field(description="Distance to this person's nearest negative sample.")
    rejected_by_negative: bool = Field(
        description="Closer to a 'not this person' sample than to their samples."
    )

    @classmethod
    def of(cls, candidate: Candidate) -> CandidateOut:
        negative = candidate.negative_distance
        return cls(
            person_id=candidate.person_id,
            name=candidate.name,
            distance=round(candidate.distance, 4),
            similarity=round(candidate.similarity, 4),
            negative_distance=round(negative, 4) if negative is not None else None,
            rejected_by_negative=candidate.rejected_by_negative,
        )


class RecognizedFaceOut(FaceOut):
    unknown: bool = Field(description="True when nobody passes the threshold.")
    person: CandidateOut | None = Field(description="Who this face is, when known.")
    candidates: list[CandidateOut] = Field(description="The top-k nearest people, best first.")


class RecognizeResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": 1,
                    "threshold": 0.6,
                    "faces": [
                        {
                            **FACE_EXAMPLE,
                            "unknown": False,
                            "person": {
                                "person_id": 3,
                                "name": "obama",
                                "distance": 0.353,
                                "similarity": 0.967,
                                "negative_distance": None,
                                "rejected_by_negative": False,
                            },
                            "candidates": [
                                {
                                    "person_id": 3,
                                    "name": "obama",
                                    "distance": 0.353,
                                    "similarity": 0.967,
                                    "negative_distance": None,
                                    "rejected_by_negative": False,
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )

    model_version: int = Field(description="Embedder version; only samples of this version were compared.")
    threshold: float
    faces: list[RecognizedFaceOut] = Field(description="Every face of the image, largest first.")

    @classmethod
    def of(cls, recognition: Recognition, threshold: float) -> RecognizeResponse:
        faces = []
        for item in recognition.faces:
            base = FaceOut.of(item.face).model_dump()
            person = CandidateOut.of(item.match.person) if item.match.person else None
            faces.append(
                RecognizedFaceOut(
                    **base,
                    unknown=person is None,
                    person=person,
                    candidates=[CandidateOut.of(c) for c in item.match.candidates],
                )
            )
        return cls(model_version=recognition.model_version, threshold=threshold, faces=faces)


class VerifyResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "same": True,
                    "distance": 0.353,
                    "similarity": 0.967,
                    "threshold": 0.6,
                    "model_version": 1,
                    "person_id": None,
                    "negative_distance": None,
                    "rejected_by_negative": False,
                    "faces": [FACE_EXAMPLE, FACE_EXAMPLE],
                }
            ]
        }
    )

    same: bool = Field(description="Same person: distance within the threshold (and no negative closer).")
    distance: float = Field(description=DISTANCE_DESCRIPTION)
    similarity: float = Field(description=SIMILARITY_DESCRIPTION)
    threshold: float
    model_version: int
    person_id: int | None = None
    negative_distance: float | None = None
    rejected_by_negative: bool = False
    faces: list[FaceOut] = Field(description="The face(s) compared.")

    @classmethod
    def of(cls, verification: Verification) -> VerifyResponse:
        negative = verification.negative_distance
        return cls(
            same=verification.same,
            distance=round(verification.distance, 4),
            similarity=round(verification.similarity, 4),
            threshold=verification.threshold,
            model_version=verification.model_version,
            person_id=verification.person.id if verification.person else None,
            negative_distance=round(negative, 4) if negative is not None else None,
            rejected_by_negative=verification.rejected_by_negative,
            faces=[FaceOut.of(face) for face in verification.faces],
        )


class SearchHitOut(BaseModel):
    event_id: int
    camera_id: str
    started_at: datetime
    ended_at: datetime
    person_id: int | None
    visitor_id: int | None
    distance: float = Field(description=DISTANCE_DESCRIPTION)
    similarity: float = Field(description=SIMILARITY_DESCRIPTION)
    snapshot_url: str

    @classmethod
    def of(cls, hit: SearchHit) -> SearchHitOut:
        e = hit.event
        return cls(
            event_id=e.id,
            camera_id=e.camera_id,
            started_at=e.started_at,
            ended_at=e.ended_at,
            person_id=e.person_id,
            visitor_id=e.visitor_id,
            distance=round(hit.distance, 4),
            similarity=round(hit.similarity, 4),
            snapshot_url=f"/api/v1/events/{e.id}/snapshot",
        )


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": 1,
                    "threshold": 0.6,
                    "face": FACE_EXAMPLE,
                    "hits": [
                        {
                            "event_id": 120,
                            "camera_id": "front-door",
                            "started_at": "2026-01-02T10:00:00Z",
                            "ended_at": "2026-01-02T10:00:04Z",
                            "person_id": None,
                            "visitor_id": 8,
                            "distance": 0.31,
                            "similarity": 0.97,
                            "snapshot_url": "/api/v1/events/120/snapshot",
                        }
                    ],
                }
            ]
        }
    )

    model_version: int
    threshold: float
    face: FaceOut = Field(description="The face of the photo that was searched for.")
    hits: list[SearchHitOut] = Field(description="Matching events, nearest first.")
