"""The thin Celery task on the `training` queue: decode the request, run the training, record the state."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from pydantic import ValidationError

from amyplant_config.settings import TrainerSettings
from amyplant_queue.celery_app import TRAIN_TASK
from amyplant_queue.messages import TrainingRequest
from amyplant_queue.training_status import TrainingStatusStore
from amyplant_trainer.fitting import Hyperparameters
from amyplant_trainer.job import TrainingCancelled

logger = logging.getLogger(__name__)


def register_training_task(app: Celery, *, settings: TrainerSettings, redis_url: str) -> None:
    store = TrainingStatusStore(redis.Redis.from_url(redis_url))

    @app.task(name=TRAIN_TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def train(payload: dict[str, Any]) -> dict[str, Any]:
        try:
            request = TrainingRequest.model_validate(payload)
        except ValidationError as error:
            logger.error("dropping malformed training request: %s", error)
            return {"state": "rejected", "error": str(error)}
        return run_request(request, settings=settings, store=store)


def run_request(
    request: TrainingRequest, *, settings: TrainerSettings, store: TrainingStatusStore
) -> dict[str, Any]:
    """Run one request to the end, recording every stage; failures are recorded, not raised."""
    from amyplant_trainer.publishing import train_and_publish

    job_id = request.job_id
    hyper = Hyperparameters.from_options(request)
    state_dir = settings.common.state_dir
    if store.cancel_requested(job_id):
        store.update(job_id, state="cancelled")
        return {"state": "cancelled"}
    store.update(job_id, state="running", stage="starting")

    def progress(stage: str, data: dict[str, Any]) -> None:
        if stage == "epoch":
            store.add_epoch(job_id, data)
        else:
            store.update(job_id, stage=stage, **{stage: data})

    try:
        outcome = train_and_publish(
            Path(request.dataset),
            repo=settings.common.resolved_model_repository,
            workdir=state_dir / "training" / job_id,
            hyper=hyper,
            force=request.force,
            progress=progress,
            should_stop=lambda: store.cancel_requested(job_id),
            verbose=0,
        )
    except TrainingCancelled:
        store.update(job_id, state="cancelled")
        return {"state": "cancelled"}
    except (ValueError, OSError, RuntimeError) as error:
        logger.exception("training %s failed", job_id)
        store.update(job_id, state="failed", error=str(error))
        return {"state": "failed", "error": str(error)}
    store.update(job_id, state="done", gate=outcome.gate, published_version=outcome.published_version)
    return {"state": "done", "published_version": outcome.published_version}
