"""Bodies of the model-version routes: what each version of each model is, and promotion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from amyplant_faces.models import repository


class ModelVersionOut(BaseModel):
    version: int
    created_at: str | None = None
    builder: str | None = None
    figures: dict[str, Any] | None = Field(None, description="What the builder or trainer measured.")
    check: dict[str, Any] | None = Field(None, description="Parity figures measured when it was built.")
    promoted_from: int | None = Field(None, description="The version this one is a copy of, if promoted.")
    serving: bool = Field(False, description="Whether unversioned requests go to this version.")

    @classmethod
    def read(cls, path: Path, *, version: int, serving: bool) -> ModelVersionOut:
        try:
            manifest = repository.read_manifest(path)
        except (OSError, ValueError):
            return cls(version=version, serving=serving)
        return cls(
            version=version,
            created_at=manifest.get("created_at"),
            builder=manifest.get("builder"),
            figures=manifest.get("figures"),
            check=manifest.get("check"),
            promoted_from=manifest.get("promoted_from"),
            serving=serving,
        )


class ModelOut(BaseModel):
    name: str
    serving_version: int | None
    versions: list[ModelVersionOut] = Field(description="Versions in the served set, oldest first.")
    retired: list[ModelVersionOut] = Field(description="Versions taken out by rollback, oldest first.")


class PromoteRequest(BaseModel):
    version: int = Field(ge=1, lt=2**31, description="A served or retired version to serve again.")


class RollbackOut(BaseModel):
    name: str
    retired_version: int
    serving_version: int


class PromoteOut(BaseModel):
    name: str
    promoted_from: int
    serving_version: int
