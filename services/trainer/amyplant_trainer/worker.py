"""`amyplant trainer`: a Celery worker on the `training` queue (one run at a time)."""

from __future__ import annotations

import os
import socket

from amyplant_config.discovery import resolve_urls
from amyplant_config.settings import TrainerSettings
from amyplant_queue.celery_app import TRAINING_QUEUE, create_celery_app
from amyplant_trainer.tasks import register_training_task


class TrainerWorker:
    """run() consumes training requests until stop()."""

    def __init__(self, settings: TrainerSettings) -> None:
        redis_url, _ = resolve_urls(settings.common)
        # Training runs for minutes to hours: the broker must not hand the request to another worker.
        self.app = create_celery_app(redis_url=redis_url, visibility_timeout_s=24 * 3600)
        self.name = f"trainer-{os.getpid()}@{socket.gethostname()}"
        register_training_task(self.app, settings=settings, redis_url=redis_url)

    def run(self) -> int:
        self.app.worker_main(
            [
                "worker",
                "--pool=solo",
                f"--queues={TRAINING_QUEUE}",
                f"--hostname={self.name}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ]
        )
        return 0

    def stop(self) -> None:
        self.app.control.shutdown(destination=[self.name])
