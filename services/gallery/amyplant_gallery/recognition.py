"""Recognise every face of an image, verify two faces (or a face and a person), search past events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from amyplant_faces.pipeline.faces import FaceObservation, FacePipeline
from amyplant_gallery.analysis import analyse, choose_face
from amyplant_gallery.uploads import DecodedImage
from amyplant_store.errors import GalleryError
from amyplant_store.events import events_by_ids
from amyplant_store.matching import Match, match_embedding
from amyplant_store.people import get_person
from amyplant_store.policy import GalleryPolicy
from amyplant_store.tables import Event, Person
from amyplant_store.vectors import (
    as_query,
    nearest_events,
    nearest_face_of_person,
    nearest_negatives,
)

MAX_SEARCH_CANDIDATES = 1000


@dataclass(frozen=True)
class RecognizedFace:
    face: FaceObservation
    match: Match


@dataclass(frozen=True)
class Recognition:
    model_version: int
    faces: list[RecognizedFace]


@dataclass(frozen=True)
class Verification:
    """Whether two faces are the same person (or a face is the person), with the measured distance."""

    same: bool
    distance: float
    similarity: float
    threshold: float
    model_version: int
    faces: tuple[FaceObservation, ...]
    person: Person | None = None
    negative_distance: float | None = None
    rejected_by_negative: bool = False


@dataclass(frozen=True)
class SearchHit:
    event: Event
    distance: float
    similarity: float


@dataclass(frozen=True)
class Search:
    face: FaceObservation
    model_version: int
    hits: list[SearchHit]


def recognize(
    session: Session,
    *,
    pipeline: FacePipeline,
    image: DecodedImage,
    threshold: float,
    top_k: int,
    policy: GalleryPolicy,
) -> Recognition:
    """Every face of the image with its nearest people; a face nobody passes is unknown."""
    analysis = analyse(pipeline, image.rgb)
    faces = [
        RecognizedFace(
            face=face,
            match=match_embedding(
                session,
                embedding=face.embedding,
                model_version=analysis.model_version,
                threshold=threshold,
                top_k=top_k,
                candidates=policy.candidates,
            ),
        )
        for face in analysis.faces
    ]
    return Recognition(model_version=analysis.model_version, faces=faces)


def _cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))


def verify_images(
    *,
    pipeline: FacePipeline,
    first: DecodedImage,
    second: DecodedImage,
    first_index: int | None,
    second_index: int | None,
    threshold: float,
) -> Verification:
    """Compare the chosen (or only) face of each image."""
    one, two = analyse(pipeline, first.rgb), analyse(pipeline, second.rgb)
    if one.model_version != two.model_version:
        raise GalleryError(
            "models_changing", "the face embedder changed during the call; try again", status=503
        )
    face_a = choose_face(one.faces, index=first_index, box=None, filename=first.filename)
    face_b = choose_face(two.faces, index=second_index, box=None, filename=second.filename)
    a, b = as_query(face_a.embedding), as_query(face_b.embedding)
    distance = float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))
    return Verification(
        same=distance <= threshold,
        distance=distance,
        similarity=_cosine_similarity(a, b),
        threshold=threshold,
        model_version=one.model_version,
        faces=(face_a, face_b),
    )


def verify_person(
    session: Session,
    *,
    pipeline: FacePipeline,
    image: DecodedImage,
    face_index: int | None,
    person_id: int,
    threshold: float,
) -> Verification:
    """Compare the chosen (or only) face with the person's nearest sample; negatives apply."""
    person = get_person(session, person_id=person_id)
    analysis = analyse(pipeline, image.rgb)
    face = choose_face(analysis.faces, index=face_index, box=None, filename=image.filename)
    nearest = nearest_face_of_person(
        session, embedding=face.embedding, model_version=analysis.model_version, person_id=person.id
    )
    if nearest is None:
        raise GalleryError(
            "person_has_no_samples",
            f"{person.name} has no samples made by embedder version {analysis.model_version}; "
            "enroll photos first",
            status=422,
            person_id=person.id,
            model_version=analysis.model_version,
        )
    negative = nearest_negatives(
        session, embedding=face.embedding, model_version=analysis.model_version, person_ids=[person.id]
    ).get(person.id)
    rejected = negative is not None and negative < nearest.distance
    return Verification(
        same=nearest.distance <= threshold and not rejected,
        distance=nearest.distance,
        similarity=nearest.similarity,
        threshold=threshold,
        model_version=analysis.model_version,
        faces=(face,),
        person=person,
        negative_distance=negative,
        rejected_by_negative=rejected,
    )


def search_events(
    session: Session,
    *,
    pipeline: FacePipeline,
    image: DecodedImage,
    face_index: int | None,
    threshold: float,
    limit: int,
    policy: GalleryPolicy,
) -> Search:
    """Past events whose face is within the threshold of the photo's face, best first."""
    analysis = analyse(pipeline, image.rgb)
    face = choose_face(analysis.faces, index=face_index, box=None, filename=image.filename)
    candidates = min(MAX_SEARCH_CANDIDATES, max(policy.candidates, 4 * limit))
    near = [
        n
        for n in nearest_events(
            session, embedding=face.embedding, model_version=analysis.model_version, candidates=candidates
        )
        if n.distance <= threshold
    ][:limit]
    events = events_by_ids(session, ids=[n.owner_id for n in near])
    hits = [
        SearchHit(event=events[n.owner_id], distance=n.distance, similarity=n.similarity)
        for n in near
        if n.owner_id in events
    ]
    return Search(face=face, model_version=analysis.model_version, hits=hits)
