"""Health of every part the gallery depends on: Redis, Postgres with pgvector, the model runtime, workers."""

from __future__ import annotations

import time
from typing import Any

import redis
import sqlalchemy as sa
from celery import Celery
from pydantic import BaseModel, Field

from amyplant_faces.models.client import ModelClient
from amyplant_queue.celery_app import count_live_workers
from amyplant_store.database import current_revision, pgvector_version


class PartHealth(BaseModel):
    """One part's state: ok, plus what was measured or why it failed."""

    ok: bool
    detail: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class Health(BaseModel):
    """The /health answer: `status` is ok only when every part is."""

    status: str
    parts: dict[str, PartHealth]


def check_redis(client: redis.Redis) -> PartHealth:
    try:
        started = time.perf_counter()
        client.ping()
        info = client.info("server")
        return PartHealth(
            ok=True,
            detail={
                "version": info.get("redis_version"),
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    except redis.RedisError as error:
        return PartHealth(ok=False, error=f"{type(error).__name__}: {error}")


def check_postgres(engine: sa.Engine) -> PartHealth:
    try:
        with engine.connect() as connection:
            server_version = connection.execute(sa.text("show server_version")).scalar_one()
            vector = pgvector_version(connection)
            revision = current_revision(connection)
    except sa.exc.SQLAlchemyError as error:
        return PartHealth(ok=False, error=f"{type(error).__name__}: {error}")
    detail = {"version": server_version, "pgvector": vector, "schema_revision": revision}
    if vector is None:
        return PartHealth(ok=False, detail=detail, error="the pgvector extension is not installed")
    return PartHealth(ok=True, detail=detail)


def check_models(client: ModelClient) -> PartHealth:
    try:
        status = client.status()
    except Exception as error:  # any runtime failure is reported, never raised from /health
        return PartHealth(ok=False, error=f"{type(error).__name__}: {error}")
    detail: dict[str, Any] = {
        "backend": status.backend,
        "address": status.address,
        "models": {
            model.name: {"serving_version": model.serving_version, "versions": list(model.available_versions)}
            for model in status.models
        },
    }
    problem = None if status.ready else "a model has no servable version (run `amyplant models build`)"
    return PartHealth(ok=status.ready, detail=detail, error=problem)


def check_workers(app: Celery) -> PartHealth:
    try:
        count = count_live_workers(app)
    except Exception as error:  # the broker may be down; that is reported under redis too
        return PartHealth(ok=False, error=f"{type(error).__name__}: {error}")
    if count == 0:
        return PartHealth(ok=False, detail={"count": 0}, error="no inference worker answered")
    return PartHealth(ok=True, detail={"count": count})


def overall(parts: dict[str, PartHealth]) -> Health:
    return Health(status="ok" if all(part.ok for part in parts.values()) else "degraded", parts=parts)
