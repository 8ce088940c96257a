"""Nearest-neighbour search in SQL: HNSW (cosine) finds candidates, the exact Euclidean distance decides.

Naming a face searches people, not samples: the HNSW index over each person's centroid (the mean of
their samples of one model version, person_centroids, kept by triggers) gives the candidate people, and
each candidate is ranked by the exact Euclidean distance to their own nearest sample. A gallery has
several samples per person, so the graph searched is several times smaller and its points (means) stand
further apart than samples do. The graph holds each centroid as seen from inside the descriptors' cone
(minus the origin of its model version, 0.9 times the version's mean descriptor; migration 0003 says
why), and the query is moved the same way in SQL. bench/gallery_search.py measures recall and latency.

Descriptors are stored raw, as the embedder makes them (their norms vary, 1.3-1.6 on our data), so the
Euclidean threshold of dlib and face_recognition (0.6 = same person) applies unchanged. The HNSW indexes
use cosine distance on the same raw vectors (cosine ignores the norm); a query takes the `candidates`
nearest rows by cosine through the index, computes their exact Euclidean distance and ranks by it. Every
query is restricted to one embedder model version: descriptors of two versions are never compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from amyplant_store.tables import (
    EMBEDDING_DIM,
    Embedding,
    EmbeddingCentre,
    Event,
    Face,
    NegativeSample,
    Person,
    PersonCentroid,
    Visitor,
)

MAX_EF_SEARCH = 1000
POSTGRES_DEFAULT_EF_SEARCH = 40
EF_SEARCH_INFO_KEY = "amyplant_hnsw_ef_search"
ITERATIVE_SCAN_SQL = (
    "select set_config('hnsw.iterative_scan', 'strict_order', {local}) from pg_extension "
    "where extname = 'vector' and string_to_array(extversion, '.')::int[] >= array[0, 8]"
)


@dataclass(frozen=True)
class Neighbour:
    """One stored vector near the query: its owner's id, Euclidean distance and cosine similarity."""

    owner_id: int
    row_id: int
    distance: float
    similarity: float


@dataclass(frozen=True)
class PersonNeighbour:
    """A person near the query: their nearest sample, their name and their nearest negative sample."""

    person_id: int
    face_id: int
    name: str
    distance: float
    similarity: float
    negative_distance: float | None


def as_query(embedding: np.ndarray) -> Embedding:
    """A float32 [128] query vector, or ValueError."""
    vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if vector.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"expected a finite {EMBEDDING_DIM}-d descriptor, got shape {vector.shape}")
    return vector


def install_search_settings(engine: sa.Engine, *, ef_search: int) -> None:
    """Give every new connection of the engine its HNSW search settings once, for its whole life.

    hnsw.ef_search is how many candidates the index scan keeps: it bounds recall, and must be at least
    a query's LIMIT. With pgvector >= 0.8, a scan whose rows the model-version filter removed goes on
    (iterative scan, strict order) instead of returning fewer rows. Set per connection, not per query, so
    a search costs no extra round trip.
    """

    @sa.event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"set hnsw.ef_search = {int(ef_search)}")
            cursor.execute(ITERATIVE_SCAN_SQL.format(local="false"))
        dbapi_connection.commit()
        record.info[EF_SEARCH_INFO_KEY] = int(ef_search)


def tune_search(session: Session, *, candidates: int) -> None:
    """Make sure the scan may return `candidates` rows; raises ef_search for this transaction only when the
    connection's own setting (install_search_settings) is too low for that many."""
    configured = int(session.connection().info.get(EF_SEARCH_INFO_KEY, POSTGRES_DEFAULT_EF_SEARCH))
    if configured >= candidates:
        return
    ef_search = min(MAX_EF_SEARCH, max(candidates, 2 * configured))
    session.execute(sa.text("select set_config('hnsw.ef_search', :ef, true)"), {"ef": str(ef_search)})
    session.execute(sa.text(ITERATIVE_SCAN_SQL.format(local="true")))


def _ranked(rows: Iterable[Sequence[Any]]) -> list[Neighbour]:
    """Rows of (owner id, row id, Euclidean distance, cosine distance) as neighbours, nearest first."""
    found = [
        Neighbour(
            owner_id=int(row[0]), row_id=int(row[1]), distance=float(row[2]), similarity=1.0 - float(row[3])
        )
        for row in rows
    ]
    return sorted(found, key=lambda n: n.distance)


def _nearest_rows(
    session: Session,
    *,
    vectors: Any,
    owner: Any,
    row: Any,
    conditions: Sequence[sa.ColumnElement[bool]],
    embedding: np.ndarray,
    candidates: int,
) -> list[Neighbour]:
    """The `candidates` rows whose `vectors` are nearest to the query by cosine (through their HNSW
    index) meeting `conditions`, ranked by exact Euclidean distance."""
    query = as_query(embedding)
    tune_search(session, candidates=candidates)
    statement = (
        sa.select(owner, row, vectors.l2_distance(query), vectors.cosine_distance(query))
        .where(*conditions)
        .order_by(vectors.cosine_distance(query))
        .limit(candidates)
    )
    return _ranked(session.execute(statement))


def nearest_faces(
    session: Session, *, embedding: np.ndarray, model_version: int, candidates: int
) -> list[Neighbour]:
    """Enrollment samples nearest to the query (owner: the person), best first."""
    return _nearest_rows(
        session,
        vectors=Face.embedding,
        owner=Face.person_id,
        row=Face.id,
        conditions=[Face.model_version == model_version],
        embedding=embedding,
        candidates=candidates,
    )


def nearest_people(
    session: Session, *, embedding: np.ndarray, model_version: int, candidates: int
) -> list[PersonNeighbour]:
    """The `candidates` people whose centroids are nearest to the query, each with their nearest sample
    (exact Euclidean), name and nearest negative, best first; one statement (one round trip)."""
    query = as_query(embedding)
    tune_search(session, candidates=candidates)
    origin = (
        sa.select(EmbeddingCentre.origin)
        .where(EmbeddingCentre.model_version == model_version)
        .scalar_subquery()
    )
    # Computed once per query (an init plan), so the HNSW index still orders the scan.
    centred_query = sa.cast(query, Vector(EMBEDDING_DIM)).op("-", return_type=Vector(EMBEDDING_DIM))(origin)
    people = (
        sa.select(PersonCentroid.person_id)
        .where(PersonCentroid.model_version == model_version)
        .order_by(PersonCentroid.centred.cosine_distance(centred_query))
        .limit(candidates)
        .cte("candidate_people")
    )
    nearest = (
        sa.select(
            Face.person_id,
            Face.id.label("face_id"),
            Face.embedding.l2_distance(query).label("distance"),
            Face.embedding.cosine_distance(query).label("cosine"),
        )
        .join(people, people.c.person_id == Face.person_id)
        .where(Face.model_version == model_version)
        .subquery("samples")
    )
    best = (
        sa.select(nearest)
        .ext(distinct_on(nearest.c.person_id))
        .order_by(nearest.c.person_id, nearest.c.distance)
        .subquery("best")
    )
    negative = (
        sa.select(sa.func.min(NegativeSample.embedding.l2_distance(query)))
        .where(NegativeSample.person_id == best.c.person_id, NegativeSample.model_version == model_version)
        .scalar_subquery()
    )
    # The name by a lookup per candidate: as a join, the planner hashed the whole people table (it cannot
    # tell that only `candidates` rows come), a cost that grows with the gallery (EXPLAIN ANALYZE at 60k
    # people: 2.3 ms of the query's 8).
    name = sa.select(Person.name).where(Person.id == best.c.person_id).scalar_subquery()
    rows = session.execute(
        sa.select(best.c.person_id, best.c.face_id, name, best.c.distance, best.c.cosine, negative).order_by(
            best.c.distance
        )
    ).all()
    return [
        PersonNeighbour(
            person_id=int(row[0]),
            face_id=int(row[1]),
            name=str(row[2]),
            distance=float(row[3]),
            similarity=1.0 - float(row[4]),
            negative_distance=None if row[5] is None else float(row[5]),
        )
        for row in rows
    ]


def nearest_face_of_person(
    session: Session, *, embedding: np.ndarray, model_version: int, person_id: int
) -> Neighbour | None:
    """The person's sample nearest to the query, by an exact scan of that person's samples."""
    query = as_query(embedding)
    row = session.execute(
        sa.select(
            Face.person_id, Face.id, Face.embedding.l2_distance(query), Face.embedding.cosine_distance(query)
        )
        .where(Face.person_id == person_id, Face.model_version == model_version)
        .order_by(Face.embedding.l2_distance(query))
        .limit(1)
    ).first()
    if row is None:
        return None
    return Neighbour(
        owner_id=int(row[0]), row_id=int(row[1]), distance=float(row[2]), similarity=1 - float(row[3])
    )


def nearest_negatives(
    session: Session, *, embedding: np.ndarray, model_version: int, person_ids: list[int]
) -> dict[int, float]:
    """For each of these people with negatives, the Euclidean distance to their nearest negative sample."""
    if not person_ids:
        return {}
    query = as_query(embedding)
    rows = session.execute(
        sa.select(NegativeSample.person_id, sa.func.min(NegativeSample.embedding.l2_distance(query)))
        .where(NegativeSample.person_id.in_(person_ids), NegativeSample.model_version == model_version)
        .group_by(NegativeSample.person_id)
    )
    return {int(person_id): float(distance) for person_id, distance in rows}


def nearest_events(
    session: Session, *, embedding: np.ndarray, model_version: int, candidates: int
) -> list[Neighbour]:
    """Events whose face is nearest to the query (owner and row: the event), best first."""
    return _nearest_rows(
        session,
        vectors=Event.embedding,
        owner=Event.id,
        row=Event.id,
        conditions=[Event.model_version == model_version, Event.embedding.is_not(None)],
        embedding=embedding,
        candidates=candidates,
    )


def nearest_visitors(
    session: Session, *, embedding: np.ndarray, model_version: int, candidates: int
) -> list[Neighbour]:
    """Unnamed visitors whose centroid is nearest to the query (owner and row: the visitor)."""
    return _nearest_rows(
        session,
        vectors=Visitor.centroid,
        owner=Visitor.id,
        row=Visitor.id,
        conditions=[Visitor.model_version == model_version, Visitor.person_id.is_(None)],
        embedding=embedding,
        candidates=candidates,
    )
