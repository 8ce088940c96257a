"""`amyplant worker`: one Celery inference worker process on the frames queue."""

from __future__ import annotations

import os
import socket

import redis

from amyplant.core.pipeline.faces import FacePipeline
from amyplant.core.settings import WorkerSettings
from amyplant.core.stack import resolve_urls
from amyplant.models.client import create_model_client
from amyplant.services.inference.celery_app import FRAMES_QUEUE, create_celery_app
from amyplant.services.inference.processing import FrameProcessor
from amyplant.services.inference.tasks import LazyProcessor, register_tasks


class InferenceWorker:
    """Runs a Celery worker (solo pool: one frame at a time per process; scale with processes)."""

    def __init__(self, settings: WorkerSettings, *, name: str | None = None) -> None:
        self.settings = settings
        self.redis_url, _ = resolve_urls(settings.common)
        self.name = name or f"worker-{os.getpid()}@{socket.gethostname()}"
        self.app = create_celery_app(
            redis_url=self.redis_url, visibility_timeout_s=settings.visibility_timeout_s
        )
        register_tasks(self.app, LazyProcessor(self._make_processor))

    def _make_processor(self) -> FrameProcessor:
        return FrameProcessor(
            redis_client=redis.Redis.from_url(self.redis_url),
            pipeline=FacePipeline(create_model_client(self.settings.common)),
        )

    def run(self) -> int:
        queues = ",".join(dict.fromkeys([self.settings.queue, FRAMES_QUEUE]))
        self.app.worker_main([
            "worker", "--pool=solo", f"--queues={queues}", f"--hostname={self.name}",
            "--loglevel=INFO", "--without-gossip", "--without-mingle",
        ])
        return 0

    def stop(self) -> None:
        self.app.control.shutdown(destination=[self.name])
