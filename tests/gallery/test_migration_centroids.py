"""Migration 0003 on a gallery that already has samples: centres and centroids are built from them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from amyplant.embedded.postgres_server import EmbeddedPostgres
from amyplant_store.database import migrate

DATABASE = "amyplant_migration_check"


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def scratch_database(embedded_postgres: EmbeddedPostgres) -> Iterator[str]:
    """An empty database of its own in the session's server, dropped afterwards."""
    admin = libpq(embedded_postgres.url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"drop database if exists {DATABASE}")
        connection.execute(f"create database {DATABASE}")
    url = embedded_postgres.url.rsplit("/", 1)[0] + f"/{DATABASE}"
    yield url
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"drop database {DATABASE} with (force)")


def array(value: object) -> np.ndarray:
    """pgvector's psycopg adapter gives numpy arrays or Vector objects depending on its version."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


def test_upgrading_a_filled_gallery_builds_its_centroids(scratch_database: str) -> None:
    migrate(scratch_database, revision="0002")
    rng = np.random.default_rng(12)
    samples: dict[int, list[np.ndarray]] = {
        1: [rng.normal(size=128).astype(np.float32) for _ in range(3)],
        2: [rng.normal(size=128)],
    }
    with psycopg.connect(libpq(scratch_database)) as connection:
        register_vector(connection)
        for person_id, vectors in samples.items():
            connection.execute(
                "insert into people (id, name) overriding system value values (%s, %s)",
                [person_id, f"p{person_id}"],
            )
            for vector in vectors:
                connection.execute(
                    "insert into faces (person_id, embedding, model_version, crop, source_sha256, box, "
                    "detector_score, size_px, sharpness) values (%s, %s, 1, '', '', '{0,0,1,1}', 1, 1, 1)",
                    [person_id, np.asarray(vector, dtype=np.float32)],
                )
    migrate(scratch_database)
    with psycopg.connect(libpq(scratch_database)) as connection:
        register_vector(connection)
        centre = connection.execute("select origin, samples from embedding_centres").fetchone()
        assert centre is not None, "the upgrade left embedding_centres empty"
        origin, counted = centre
        rows = connection.execute(
            "select person_id, centroid, centred, samples from person_centroids order by person_id"
        ).fetchall()
    every = np.asarray([v for vectors in samples.values() for v in vectors], dtype=np.float32)
    assert counted == 4
    np.testing.assert_allclose(array(origin), 0.9 * every.mean(axis=0), atol=1e-5)
    assert [(row[0], row[3]) for row in rows] == [(1, 3), (2, 1)]
    np.testing.assert_allclose(array(rows[0][1]), np.mean(samples[1], axis=0), atol=1e-5)
    np.testing.assert_allclose(array(rows[1][2]), samples[2][0] - array(origin), atol=1e-5)
