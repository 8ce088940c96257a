"""Training runs of the face detector: start one, follow its status and per-epoch metrics, cancel it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from amyplant_gallery.dependencies import AdminKey, Context, DbSession, ReadKey
from amyplant_gallery.errors import error_responses
from amyplant_gallery.schemas.common import SingleLine
from amyplant_queue import training_options as defaults
from amyplant_queue.celery_app import TRAIN_TASK
from amyplant_queue.messages import TrainingRequest
from amyplant_queue.training_status import TrainingStatusStore
from amyplant_store.audit import record_audit
from amyplant_store.errors import GalleryError

router = APIRouter(prefix="/api/v1/training", tags=["training"])


class TrainingStart(defaults.TrainingOptions):
    """What to train; the dataset is a folder of images with LabelMe JSON on the trainer's machine."""

    dataset: SingleLine = Field(
        examples=["/var/lib/amyplant/datasets/front_door"],
        description="An absolute path to a folder under the gallery's datasets folder "
        "(AMYPLANT_GALLERY_DATASETS_DIR, default <state_dir>/datasets).",
    )


class TrainingJob(BaseModel):
    """A run's state as the trainer records it: queued, running, done, failed or cancelled."""

    job_id: str
    state: str
    stage: str | None = None
    epochs: list[dict[str, Any]] = Field(default_factory=list, description="Per-epoch losses.")
    gate: dict[str, Any] | None = Field(None, description="AP@0.5 of candidate and served detector.")
    published_version: int | None = None
    error: str | None = None
    request: dict[str, Any] | None = None


def _job(document: dict[str, Any]) -> TrainingJob:
    return TrainingJob.model_validate({k: v for k, v in document.items() if k in TrainingJob.model_fields})


def confined_dataset(path: str, *, root: Path) -> Path:
    """The dataset folder as a path under `root`; a 422 unless, with symlinks and '..' resolved, it is an
    existing folder inside `root`. The REST API may not point the trainer at any file of the machine."""
    if not Path(path).is_absolute():
        raise GalleryError("dataset_path_not_absolute", "give the dataset as an absolute path", status=422)
    try:
        real_root, real = root.resolve(), Path(path).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop
        raise GalleryError("dataset_not_found", f"{path} cannot be resolved: {error}", status=422) from error
    # Checked before existence, so the answer tells nothing about the files outside the root.
    if real == real_root or not real.is_relative_to(real_root):
        raise GalleryError(
            "dataset_outside_root",
            f"a dataset must be a folder under {root} (AMYPLANT_GALLERY_DATASETS_DIR)",
            status=422,
            datasets_dir=str(root),
        )
    if not real.is_dir():
        raise GalleryError("dataset_not_found", f"there is no dataset folder {path}", status=422)
    return root / real.relative_to(real_root)


@router.post(
    "", status_code=202, summary="Start training a face detector", responses=error_responses(401, 403, 422)
)
def start_training(body: TrainingStart, context: Context, session: DbSession, key: AdminKey) -> TrainingJob:
    dataset = str(confined_dataset(body.dataset, root=context.settings.resolved_datasets_dir()))
    request = TrainingRequest(job_id=uuid.uuid4().hex, **(body.model_dump() | {"dataset": dataset}))
    # A run whose candidate passes the gate is published (promoted) by the trainer, which has no database:
    # starting it is the audited decision.
    record_audit(
        session,
        actor_key_id=key.id,
        actor_name=key.name,
        action="training.start",
        target=f"training:{request.job_id}",
        details={"dataset": dataset},
    )
    store = TrainingStatusStore(context.redis)
    store.create(request.job_id, request.model_dump(mode="json"))
    context.celery.send_task(TRAIN_TASK, args=[request.model_dump(mode="json")])
    document = store.get(request.job_id)
    return _job(document or {"job_id": request.job_id, "state": "queued"})


@router.get("", summary="Recent training runs, newest first", responses=error_responses(401, 403))
def list_training(context: Context, key: ReadKey) -> list[TrainingJob]:
    return [_job(document) for document in TrainingStatusStore(context.redis).list_recent()]


@router.get(
    "/{job_id}", summary="A training run's state and metrics", responses=error_responses(401, 403, 404)
)
def get_training(job_id: str, context: Context, key: ReadKey) -> TrainingJob:
    document = TrainingStatusStore(context.redis).get(job_id)
    if document is None:
        raise GalleryError("training_not_found", f"no training run {job_id}", status=404)
    return _job(document)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    summary="Cancel a training run",
    responses=error_responses(401, 403, 404),
)
def cancel_training(job_id: str, context: Context, key: AdminKey) -> TrainingJob:
    store = TrainingStatusStore(context.redis)
    document = store.get(job_id)
    if document is None:
        raise GalleryError("training_not_found", f"no training run {job_id}", status=404)
    store.request_cancel(job_id)
    if document.get("state") == "queued":
        store.update(job_id, state="cancelled")
    return _job(store.get(job_id) or document)
