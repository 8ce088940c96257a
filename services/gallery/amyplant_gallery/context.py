"""The long-lived resources of one gallery process, created at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import sqlalchemy as sa
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from amyplant_config.discovery import resolve_urls
from amyplant_config.settings import GallerySettings
from amyplant_faces.models.client import ModelClient, create_model_client
from amyplant_faces.pipeline.faces import FacePipeline
from amyplant_gallery.api_keys import ensure_admin_key
from amyplant_gallery.auth_limits import AuthFailureLimiter
from amyplant_gallery.uploads import UploadLimits
from amyplant_queue.celery_app import create_celery_app
from amyplant_store.database import create_engine, migrate
from amyplant_store.policy import GalleryPolicy
from amyplant_store.vectors import install_search_settings


@dataclass
class GalleryContext:
    """Everything a request handler may need; one instance per process, held by the FastAPI app."""

    settings: GallerySettings
    engine: sa.Engine
    redis_url: str
    redis: redis.Redis
    models: ModelClient
    celery: Celery
    sessions: sessionmaker[Session]
    pipeline: FacePipeline
    policy: GalleryPolicy
    limits: UploadLimits
    auth_failures: AuthFailureLimiter

    @classmethod
    def open(cls, settings: GallerySettings) -> GalleryContext:
        redis_url, database_url = resolve_urls(settings.common)
        migrate(database_url)
        engine = create_engine(database_url)
        policy = GalleryPolicy.from_settings(settings)
        install_search_settings(engine, ef_search=policy.ef_search)
        models = create_model_client(settings.common)
        context = cls(
            settings=settings,
            engine=engine,
            redis_url=redis_url,
            redis=redis.Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0),
            models=models,
            celery=create_celery_app(redis_url=redis_url),
            sessions=sessionmaker(engine, expire_on_commit=False),
            pipeline=FacePipeline(
                models, small_face_px=settings.small_face_px, tiled_from_px=settings.tiled_from_px
            ),
            policy=policy,
            limits=UploadLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels),
            auth_failures=AuthFailureLimiter(
                limit=settings.auth_failure_limit, window_s=settings.auth_failure_window_s
            ),
        )
        context.bootstrap_admin_key()
        return context

    def bootstrap_admin_key(self) -> None:
        """Create the first admin key when the installation has none (see api_keys.ensure_admin_key)."""
        with self.sessions.begin() as session:
            ensure_admin_key(
                session,
                pepper=self.settings.api_key_pepper,
                configured_key=self.settings.bootstrap_admin_key,
                state_dir=self.settings.common.state_dir,
            )

    def close(self) -> None:
        self.models.close()
        self.redis.close()
        self.engine.dispose()
