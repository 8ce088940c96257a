"""The Postgres connection: engines, schema migrations (Alembic owns the schema) and pgvector's version."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Concurrent starts (several workers, the gallery) must not run the same migration twice.
MIGRATION_LOCK_KEY = 7_301_924


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgres:// and postgresql:// URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine(url: str, *, pool_size: int = 5) -> sa.Engine:
    """An engine that checks connections before use, so a Postgres restart costs a retry, not a crash."""
    return sa.create_engine(
        normalise_database_url(url), pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    return config


def migrate(url: str, *, revision: str = "head") -> None:
    """Bring the schema to `revision`, holding an advisory lock so concurrent starts wait for each other."""
    engine = create_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                config = alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                connection.execute(sa.text("select pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()


def pgvector_version(connection: sa.Connection) -> str | None:
    """The installed pgvector extension's version, or None when it is not installed."""
    version = connection.execute(
        sa.text("select extversion from pg_extension where extname = 'vector'")
    ).scalar_one_or_none()
    return str(version) if version is not None else None


def current_revision(connection: sa.Connection) -> str | None:
    """The schema revision Alembic recorded, or None before the first migration."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    revision = connection.execute(sa.text("select version_num from alembic_version")).scalar_one_or_none()
    return str(revision) if revision is not None else None
