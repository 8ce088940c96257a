"""Naming one descriptor: the nearest people, the threshold, and the "not X" negatives rule.

The negatives rule: a person X is rejected for a face when the face is closer to one of X's negative
samples ("this is not X" feedback) than to X's nearest enrollment sample. The face may still match the
next person within the threshold, and is unknown when nobody is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from amyplant_store.vectors import PersonNeighbour, nearest_people


@dataclass(frozen=True)
class Candidate:
    """A person near the face: distance to their nearest sample, and whether a negative rejected them."""

    person_id: int
    name: str
    distance: float
    similarity: float
    negative_distance: float | None
    rejected_by_negative: bool

    def passes(self, threshold: float) -> bool:
        return self.distance <= threshold and not self.rejected_by_negative


@dataclass(frozen=True)
class Match:
    """The people nearest to a face (best first) and the one it is named as, None when unknown."""

    candidates: list[Candidate]
    person: Candidate | None
    threshold: float


def _candidate(neighbour: PersonNeighbour) -> Candidate:
    negative = neighbour.negative_distance
    return Candidate(
        person_id=neighbour.person_id,
        name=neighbour.name,
        distance=neighbour.distance,
        similarity=neighbour.similarity,
        negative_distance=negative,
        rejected_by_negative=negative is not None and negative < neighbour.distance,
    )


def match_embedding(
    session: Session,
    *,
    embedding: np.ndarray,
    model_version: int,
    threshold: float,
    top_k: int,
    candidates: int,
) -> Match:
    """Name a descriptor among the samples of the same embedder version."""
    ranked = [
        _candidate(n)
        for n in nearest_people(
            session, embedding=embedding, model_version=model_version, candidates=candidates
        )
    ]
    person = next((c for c in ranked if c.passes(threshold)), None)
    return Match(candidates=ranked[:top_k], person=person, threshold=threshold)
