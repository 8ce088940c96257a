"""Errors the store functions raise: a stable machine `code`, a human `message`, an HTTP status to report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """What every error response holds."""

    code: str = Field(description="Stable machine-readable code; scripts may rely on it.")
    message: str = Field(description="What went wrong, for a person.")
    details: dict[str, Any] = Field(default_factory=dict, description="Extra facts (fields, limits, ...).")

    model_config = {
        "json_schema_extra": {
            "examples": [{"code": "person_not_found", "message": "no person with id 42", "details": {}}]
        }
    }


class GalleryError(Exception):
    """An error the API reports to its caller; `status` is the HTTP status."""

    def __init__(self, code: str, message: str, *, status: int = 400, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.message, details=self.details)


def not_found(what: str, identifier: object) -> GalleryError:
    return GalleryError(f"{what}_not_found", f"no {what.replace('_', ' ')} with id {identifier}", status=404)
