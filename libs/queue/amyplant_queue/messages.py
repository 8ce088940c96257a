"""Versioned queue messages shared by every service; they carry references (Redis keys), never pixels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from amyplant_queue import training_options as defaults

FRAME_KEY_PREFIX = "amyplant:frame:"


def frame_key(camera_id: str, sequence: int, run_id: str) -> str:
    """The Redis key under which a captured frame's JPEG bytes are stored (with a TTL); workers delete it
    when done, the capture when it drops the frame from its backlog."""
    return f"{FRAME_KEY_PREFIX}{camera_id}:{sequence}:{run_id}"


class Message(BaseModel):
    """Base of every queue message: immutable, strict about unknown fields, versioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int


class FrameMessage(Message):
    """A captured frame waiting for inference; the JPEG lives in Redis under `frame_key`."""

    kind: Literal["frame"] = "frame"
    schema_version: Literal[1] = 1
    camera_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    sequence: Annotated[int, Field(ge=0, description="Frame number within this capture run of the camera.")]
    frame_key: Annotated[str, Field(min_length=1, description="Redis key of the JPEG bytes.")]
    captured_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    run_id: Annotated[str, Field(min_length=1, description="Identifies one capture run; resets tracking.")]


class TrainingRequest(Message, defaults.TrainingOptions):
    """Ask the trainer to train a detector on a dataset folder."""

    kind: Literal["training"] = "training"
    schema_version: Literal[1] = 1
    job_id: Annotated[str, Field(pattern=r"^[a-f0-9]{8,32}$")]
    dataset: Annotated[str, Field(min_length=1, description="Dataset folder (images + LabelMe JSON).")]


class MessageVersionError(ValueError):
    """A message of a schema version this code does not understand."""


def decode_frame_message(payload: dict[str, object]) -> FrameMessage:
    """Validate a frame message from the queue, refusing versions we do not know with a clear error."""
    version = payload.get("schema_version")
    if version != 1:
        raise MessageVersionError(f"frame message schema_version {version!r} is not supported (expected 1)")
    return FrameMessage.model_validate(payload)
