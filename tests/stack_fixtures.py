"""Session fixtures: one embedded Postgres (pgvector) and a Redis for the whole test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from amyplant.embedded.postgres_server import EmbeddedPostgres
from amyplant.embedded.redis_server import EmbeddedRedis
from amyplant_store.database import migrate

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $AMYPLANT_SHARED_DATA), or skip the test when it is absent."""
    path = Path(os.environ.get("AMYPLANT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis when AMYPLANT_TEST_REDIS_URL is set, else the bundled redis-server."""
    external = os.environ.get("AMYPLANT_TEST_REDIS_URL")
    if external:
        yield external
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on a database the test may clear; cleared before and after."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def embedded_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(embedded_postgres: EmbeddedPostgres) -> str:
    """The session's embedded Postgres, migrated to the newest schema."""
    migrate(embedded_postgres.url)
    return embedded_postgres.url
