"""The long-lived resources of one gallery process, created at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import sqlalchemy as sa
from celery import Celery

from amyplant.core.database import create_engine, migrate
from amyplant.core.settings import GallerySettings
from amyplant.core.stack import resolve_urls
from amyplant.models.client import ModelClient, create_model_client
from amyplant.services.inference.celery_app import create_celery_app


@dataclass
class GalleryContext:
    """Everything a request handler may need; one instance per process, held by the FastAPI app."""

    settings: GallerySettings
    engine: sa.Engine
    redis: redis.Redis
    models: ModelClient
    celery: Celery

    @classmethod
    def open(cls, settings: GallerySettings) -> GalleryContext:
        redis_url, database_url = resolve_urls(settings.common)
        migrate(database_url)
        return cls(
            settings=settings,
            engine=create_engine(database_url),
            redis=redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0),
            models=create_model_client(settings.common),
            celery=create_celery_app(redis_url=redis_url),
        )

    def close(self) -> None:
        self.models.close()
        self.redis.close()
        self.engine.dispose()
