"""Model versions in the repository: their figures, and promote / roll back (admin, audited)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy.orm import Session

from amyplant_faces.models import repository
from amyplant_faces.models.spec import MODEL_NAMES
from amyplant_gallery.dependencies import AdminKey, Context, DbSession, ReadKey
from amyplant_gallery.errors import error_responses
from amyplant_gallery.schemas.models import ModelOut, ModelVersionOut, PromoteOut, PromoteRequest, RollbackOut
from amyplant_store.audit import record_audit
from amyplant_store.errors import GalleryError
from amyplant_store.tables import ApiKey

router = APIRouter(prefix="/api/v1/models", tags=["models"])

ModelName = StrEnum("ModelName", {name: name for name in MODEL_NAMES})  # type: ignore[misc]


def _repo(context: Context) -> Path:
    return context.settings.common.resolved_model_repository


def _model(repo: Path, name: str) -> ModelOut:
    served = repository.list_versions(repo, name=name)
    newest = served[-1] if served else None
    retired_dir = repository.model_dir(repo, name=name) / repository.RETIRED_DIR
    return ModelOut(
        name=name,
        serving_version=newest,
        versions=[
            ModelVersionOut.read(
                repository.version_dir(repo, name=name, version=v), version=v, serving=v == newest
            )
            for v in served
        ],
        retired=[
            ModelVersionOut.read(retired_dir / str(v), version=v, serving=False)
            for v in repository.retired_versions(repo, name=name)
        ],
    )


def _audit(session: Session, key: ApiKey, action: str, model: str, **details: int) -> None:
    record_audit(
        session,
        actor_key_id=key.id,
        actor_name=key.name,
        action=action,
        target=f"model:{model}",
        details=details,
    )


def _refused(error: repository.RepositoryError) -> GalleryError:
    return GalleryError("model_version_refused", str(error), status=409)


@router.get(
    "",
    summary="Each model's versions with their figures, and which one serves",
    responses=error_responses(401, 403),
)
def list_models(context: Context, key: ReadKey) -> list[ModelOut]:
    repo = _repo(context)
    return [_model(repo, name) for name in MODEL_NAMES]


@router.post(
    "/{name}/rollback",
    summary="Retire the newest version so the previous one serves (admin, audited)",
    responses=error_responses(401, 403, 409, 422),
)
def rollback_model(name: ModelName, context: Context, session: DbSession, key: AdminKey) -> RollbackOut:
    try:
        retired, serving = repository.rollback(_repo(context), name=name.value)
    except repository.RepositoryError as error:
        raise _refused(error) from error
    _audit(session, key, "model.rollback", name.value, retired_version=retired, serving_version=serving)
    return RollbackOut(name=name.value, retired_version=retired, serving_version=serving)


@router.post(
    "/{name}/promote",
    summary="Serve an earlier version again, as a new version number (admin, audited)",
    responses=error_responses(401, 403, 409, 422),
)
def promote_model(
    name: ModelName, body: PromoteRequest, context: Context, session: DbSession, key: AdminKey
) -> PromoteOut:
    try:
        serving = repository.promote(_repo(context), name=name.value, version=body.version)
    except repository.RepositoryError as error:
        raise _refused(error) from error
    _audit(session, key, "model.promote", name.value, promoted_from=body.version, serving_version=serving)
    return PromoteOut(name=name.value, promoted_from=body.version, serving_version=serving)
