"""The Celery application: Redis broker, late acknowledgement and per-queue routing."""

from __future__ import annotations

from celery import Celery

FRAMES_QUEUE = "frames"
TRAINING_QUEUE = "training"
PROCESS_FRAME_TASK = "amyplant.process_frame"
TRAIN_TASK = "amyplant.train"


def create_celery_app(*, redis_url: str, visibility_timeout_s: int = 60) -> Celery:
    """A Celery app on the given Redis; tasks are registered separately by the worker."""
    app = Celery("amyplant", broker=redis_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        # A frame is acknowledged only after it was handled, so a killed worker's frame is redone ...
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # ... and a worker holds one frame at a time, so a kill loses at most that one to redelivery.
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        task_routes={PROCESS_FRAME_TASK: {"queue": FRAMES_QUEUE}, TRAIN_TASK: {"queue": TRAINING_QUEUE}},
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )
    return app


def count_live_workers(app: Celery, *, timeout_s: float = 1.0) -> int:
    """How many workers answer a broadcast ping within the timeout."""
    replies = app.control.ping(timeout=timeout_s) or []
    return len(replies)
