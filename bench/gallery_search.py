"""Gallery search at scale: identify latency, recall@1 against exact search, and HNSW build time.

Usage: python bench/gallery_search.py [--sizes 100000 1000000] [--queries 500] [--ef-search 100 200 400 800]
       [--shared-buffers 4GB] [--database-url URL]

Synthetic descriptors clustered like real identities: every identity has a centre, and its samples
(3 to 7 per identity) scatter around it. The scale copies what our models give on ../shared/data: raw
descriptors of norm about 1.4 that all lie in one narrow cone, two photos of one person 0.33-0.53 apart,
two people 0.69 or more apart (see libs/store/amyplant_store/policy.py). Each query is a new sample
of a stored identity.

For each size the gallery's own schema (Alembic migrations) is loaded in an embedded PostgreSQL 18 with
pgvector (or the given database, whose gallery tables are emptied!), the faces are COPYed in, the HNSW
index is built and timed, and each query runs the gallery's identify (matching.match_embedding: the HNSW
cosine candidates, exact Euclidean re-ranking, names, negatives) in its own transaction, once per
hnsw.ef_search of the sweep on the same index (table and index prewarmed into shared buffers, as in a
running gallery). recall@1: how often its nearest person is the person of the exact Euclidean nearest
sample (numpy, brute force). The headline figures are those at the gallery's default ef_search.
Prints one JSON line per size and writes bench/results/gallery_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from sqlalchemy.orm import sessionmaker

from amyplant.embedded.postgres_server import EmbeddedPostgres
from amyplant_store.database import create_engine, migrate
from amyplant_store.matching import match_embedding
from amyplant_store.policy import GalleryPolicy
from amyplant_store.vectors import install_search_settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gallery_search.json"
DIM = 128
MODEL_VERSION = 1
# Identify searches the centroid index; the sample index serves duplicates, feedback and visitors.
CENTROID_INDEX = "person_centroids_hnsw"
SAMPLE_INDEX = "faces_embedding_hnsw"
INDEXES = (CENTROID_INDEX, SAMPLE_INDEX)
# Per-dimension spreads chosen so that distances match the real data (printed with the results).
CONE_NORM = 1.35
CENTRE_SPREAD = 0.047
SAMPLE_SPREAD = 0.027


def cone_axis(rng: np.random.Generator) -> np.ndarray:
    axis = rng.normal(size=DIM)
    return CONE_NORM * axis / np.linalg.norm(axis)


def identities(rng: np.random.Generator, axis: np.ndarray, count: int) -> np.ndarray:
    return (axis + rng.normal(scale=CENTRE_SPREAD, size=(count, DIM))).astype(np.float32)


def samples_of(rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    return (centres + rng.normal(scale=SAMPLE_SPREAD, size=centres.shape)).astype(np.float32)


def make_gallery(
    rng: np.random.Generator, axis: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`size` samples: identity centres, and each sample's vector and identity index."""
    per_identity = rng.integers(3, 8, size=size // 3 + 1)
    owners = np.repeat(np.arange(len(per_identity)), per_identity)[:size]
    centres = identities(rng, axis, int(owners.max()) + 1)
    return centres, samples_of(rng, centres[owners]), owners


def distance_figures(rng: np.random.Generator, centres: np.ndarray) -> dict[str, float]:
    """Same-identity and different-identity distances of fresh samples, to compare with the real data."""
    picks = rng.choice(len(centres), size=min(2000, len(centres)), replace=False)
    a, b = samples_of(rng, centres[picks]), samples_of(rng, centres[picks])
    same = np.linalg.norm(a - b, axis=1)
    different = np.linalg.norm(a - np.roll(b, 1, axis=0), axis=1)
    return {
        "same_median": float(np.median(same)),
        "same_p99": float(np.percentile(same, 99)),
        "different_p1": float(np.percentile(different, 1)),
        "different_median": float(np.median(different)),
        "norm_median": float(np.median(np.linalg.norm(a, axis=1))),
    }


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def load(url: str, vectors: np.ndarray, owners: np.ndarray) -> float:
    """Empty the gallery, COPY people and samples in without the HNSW index; seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url)) as connection:
        register_vector(connection)
        connection.execute(
            "truncate negative_samples, faces, events, visitors, people restart identity cascade"
        )
        for name in INDEXES:
            connection.execute(f"drop index if exists {name}")
        with connection.cursor().copy("copy people (id, name) from stdin") as copy:
            for person in range(int(owners.max()) + 1):
                copy.write_row((person + 1, f"person {person}"))
        columns = (
            "person_id, embedding, model_version, crop, source_sha256, box, detector_score, size_px, "
            "sharpness"
        )
        with connection.cursor().copy(f"copy faces ({columns}) from stdin with (format binary)") as copy:
            copy.set_types(
                ["int8", "vector", "int4", "bytea", "varchar", "float8[]", "float8", "float8", "float8"]
            )
            box = [0.0, 0.0, 100.0, 100.0]
            for vector, owner in zip(vectors, owners, strict=True):
                copy.write_row((int(owner) + 1, vector, MODEL_VERSION, b"", "", box, 0.9, 100.0, 100.0))
        for table in ("people", "faces", "person_centroids"):
            connection.execute(f"analyze {table}")
    return time.perf_counter() - started


def index_definitions(url: str) -> dict[str, str]:
    """The HNSW indexes as the migrations created them (dropped while loading, then rebuilt)."""
    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute(
            "select indexname, indexdef from pg_indexes where indexname = any(%s)", [list(INDEXES)]
        ).fetchall()
    found = {str(name): str(definition) for name, definition in rows}
    if set(found) != set(INDEXES):
        raise SystemExit(f"missing indexes {set(INDEXES) - set(found)}: is the database migrated?")
    return found


def build_index(url: str, definition: str) -> float:
    """Build the HNSW index as the migration defines it; seconds taken."""
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("set maintenance_work_mem = '3GB'")
        connection.execute("set max_parallel_maintenance_workers = 2")
        started = time.perf_counter()
        connection.execute(definition.encode())
        return time.perf_counter() - started


def exact_owner(vectors: np.ndarray, owners: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The identity of each query's exact Euclidean nearest sample (brute force, in chunks)."""
    best_distance = np.full(len(queries), np.inf)
    best_owner = np.zeros(len(queries), dtype=np.int64)
    query_norms = (queries.astype(np.float64) ** 2).sum(axis=1)[:, None]
    for start in range(0, len(vectors), 200_000):
        chunk = vectors[start : start + 200_000].astype(np.float64)
        squared = query_norms - 2 * queries.astype(np.float64) @ chunk.T + (chunk**2).sum(axis=1)[None, :]
        nearest = squared.argmin(axis=1)
        distance = squared[np.arange(len(queries)), nearest]
        better = distance < best_distance
        best_distance[better] = distance[better]
        best_owner[better] = owners[start + nearest[better]]
    return best_owner


def prewarm(url: str) -> bool:
    """Read the faces table and its HNSW index into shared buffers (a running gallery's are warm); False
    when pg_prewarm is not available."""
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        try:
            connection.execute("create extension if not exists pg_prewarm")
        except psycopg.Error:
            return False
        for relation in ("faces", "faces_person_idx", "person_centroids", CENTROID_INDEX):
            connection.execute("select pg_prewarm(%s)", [relation])
    return True


def identify_all(
    url: str, queries: np.ndarray, policy: GalleryPolicy, ef_search: int
) -> tuple[list[float], list[int | None]]:
    """The gallery's identify for each query: milliseconds and the nearest person's identity index."""
    engine = create_engine(url, pool_size=1)
    install_search_settings(engine, ef_search=ef_search)
    sessions = sessionmaker(engine)
    timings, found = [], []
    try:
        for position, query in enumerate(queries):
            started = time.perf_counter()
            with sessions.begin() as session:
                match = match_embedding(
                    session,
                    embedding=query,
                    model_version=MODEL_VERSION,
                    threshold=policy.match_threshold,
                    top_k=1,
                    candidates=policy.candidates,
                )
            elapsed = (time.perf_counter() - started) * 1000
            if position >= 20:  # the first queries warm the index into the buffer cache
                timings.append(elapsed)
            found.append(match.candidates[0].person_id - 1 if match.candidates else None)
    finally:
        engine.dispose()
    return timings, found


def sweep_point(url: str, queries: np.ndarray, exact: np.ndarray, ef_search: int) -> dict[str, float | int]:
    """recall@1 and latency of the gallery's identify with this hnsw.ef_search."""
    timings, found = identify_all(url, queries, GalleryPolicy(), ef_search)
    recall = float(np.mean([f == e for f, e in zip(found, exact, strict=True)]))
    return {
        "ef_search": ef_search,
        "recall_at_1": round(recall, 4),
        "p50_ms": round(float(np.percentile(timings, 50)), 2),
        "p95_ms": round(float(np.percentile(timings, 95)), 2),
    }


def measure(
    url: str,
    definitions: dict[str, str],
    size: int,
    query_count: int,
    seed: int,
    ef_searches: list[int],
    sample_index: bool,
) -> dict[str, Any]:
    """Load, build, then identify the same queries once per ef_search on that one index; the headline
    figures are those of the gallery's default ef_search (GalleryPolicy)."""
    rng = np.random.default_rng(seed)
    axis = cone_axis(rng)
    centres, vectors, owners = make_gallery(rng, axis, size)
    load_s = load(url, vectors, owners)
    build_s = build_index(url, definitions[CENTROID_INDEX])
    sample_build_s = build_index(url, definitions[SAMPLE_INDEX]) if sample_index else None
    prewarmed = prewarm(url)
    asked = rng.choice(int(owners.max()) + 1, size=query_count + 20)
    queries = samples_of(rng, centres[asked])
    exact = exact_owner(vectors, owners, queries)
    default_ef = GalleryPolicy().ef_search
    sweep = [sweep_point(url, queries, exact, ef) for ef in sorted({*ef_searches, default_ef})]
    headline = next(point for point in sweep if point["ef_search"] == default_ef)
    with psycopg.connect(libpq_url(url)) as connection:
        index_mb = connection.execute("select pg_relation_size(%s)", [CENTROID_INDEX]).fetchone()[0] / 2**20
    return {
        "n": size,
        "identities": int(owners.max()) + 1,
        "queries": query_count,
        "recall_at_1": headline["recall_at_1"],
        "p50_ms": headline["p50_ms"],
        "p95_ms": headline["p95_ms"],
        "build_s": round(build_s, 1),
        "sample_index_build_s": None if sample_build_s is None else round(sample_build_s, 1),
        "ef_search": default_ef,
        "sweep": sweep,
        "prewarmed": prewarmed,
        "load_s": round(load_s, 1),
        "index_mb": round(index_mb, 1),
        "synthetic_distances": {k: round(v, 3) for k, v in distance_figures(rng, centres).items()},
    }


def database(url: str | None, shared_buffers: str) -> Iterator[str]:
    if url:
        migrate(url)
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="gallery-bench-") as directory:
        server = EmbeddedPostgres(Path(directory), server_settings={"shared_buffers": shared_buffers})
        try:
            started = server.start()
            migrate(started)
            yield started
        finally:
            server.stop()


def write_results(
    path: Path, results: list[dict[str, Any]], definitions: dict[str, str], shared_buffers: str | None
) -> None:
    policy = GalleryPolicy()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "results": results,
        "settings": {
            "indexes": definitions,
            "candidates": policy.candidates,
            "ef_search": policy.ef_search,
            "query": "gallery matching.match_embedding, one transaction per query",
            "shared_buffers": shared_buffers or "(the given database's)",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 100, 200])
    parser.add_argument(
        "--no-sample-index",
        action="store_true",
        help="leave the samples' HNSW index unbuilt (identify does not use it; saves its build time)",
    )
    parser.add_argument(
        "--shared-buffers", default="4GB", help="the embedded server's shared_buffers (index and table fit)"
    )
    parser.add_argument("--database-url", default=os.environ.get("AMYPLANT_BENCH_DATABASE_URL"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = []
    buffers = None if args.database_url else args.shared_buffers
    for url in database(args.database_url, args.shared_buffers):
        definitions = index_definitions(url)
        for size in args.sizes:
            figures = measure(
                url, definitions, size, args.queries, args.seed, args.ef_search, not args.no_sample_index
            )
            print(json.dumps(figures), flush=True)
            results.append(figures)
            # After each size, so that a cut-short run keeps what it measured.
            write_results(args.output, results, definitions, buffers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
