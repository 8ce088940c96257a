"""Thin Celery tasks: decode the message, call the frame processor, decide on retries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
import sqlalchemy as sa
from celery import Celery, Task
from pydantic import ValidationError

from amyplant_faces.models.client import ModelServerUnavailable
from amyplant_inference.processing import FrameProcessor
from amyplant_inference.track_store import TrackStoreBusy
from amyplant_queue.celery_app import PROCESS_FRAME_TASK
from amyplant_queue.frames import FrameGone, FrameUndecodable
from amyplant_queue.messages import MessageVersionError, decode_frame_message

logger = logging.getLogger(__name__)
RETRYABLE = (
    ConnectionError,
    redis.RedisError,
    sa.exc.OperationalError,
    ModelServerUnavailable,
    TrackStoreBusy,
)


class LazyProcessor:
    """Creates the processor on first use inside the worker process (models load once per process)."""

    def __init__(self, factory: Callable[[], FrameProcessor]) -> None:
        self._factory = factory
        self._processor: FrameProcessor | None = None

    def get(self) -> FrameProcessor:
        if self._processor is None:
            self._processor = self._factory()
        return self._processor


def register_tasks(app: Celery, processor: LazyProcessor) -> None:
    """Register the frame task on the app, bound to this process's processor."""

    @app.task(name=PROCESS_FRAME_TASK, bind=True, max_retries=3)  # type: ignore[untyped-decorator]
    def process_frame(task: Task, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            message = decode_frame_message(payload)
        except (MessageVersionError, ValidationError) as error:
            # A malformed message will never succeed: drop it with a clear log line, no retry.
            logger.error("dropping malformed frame message: %s", error)
            return {"status": "rejected", "reason": str(error)}
        try:
            result = processor.get().process(message)
        except (FrameGone, FrameUndecodable) as error:
            # Frames dropped by the capture's bounded backlog land here by design: counted, not logged loudly.
            logger.debug("skipping frame %s: %s", message.frame_key, error)
            return {"status": "skipped", "reason": str(error)}
        except RETRYABLE as error:
            # Redis, Postgres or the model server restarting, or the camera's tracker busy: try again.
            raise task.retry(exc=error, countdown=2) from error
        return {
            "status": result.outcome,
            "faces": result.faces,
            "repeated": result.repeated,
            "events": result.events,
            "alerts": result.alerts,
            "elapsed_ms": result.elapsed_ms,
        }
