"""Session-wide fixtures: one embedded Postgres, one Redis, one built model repository."""

from __future__ import annotations

from tests.stack_fixtures import (  # noqa: F401  (fixtures are found by name)
    database_url,
    embedded_postgres,
    redis_client,
    redis_url,
    shared_data,
)
