"""Camera configuration: one YAML or TOML file, validated, with described fields."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from amyplant_capture.motion import MotionConfig


class CameraConfig(BaseModel):
    """One camera."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Short unique name, e.g. front_door.")
    ]
    source: str = Field(
        description="Webcam index ('0'), rtsp:// or http(s):// stream URL, video file, or folder of images."
    )
    name: str | None = Field(None, description="Human-readable name shown in events and alerts.")
    detect_fps: float = Field(5.0, gt=0, le=60, description="Frames per second sent to the workers.")
    max_width: int | None = Field(None, gt=0, description="Frames wider than this are scaled down first.")
    loop: bool = Field(False, description="Replay a video file or folder from the start when it ends.")
    realtime: bool = Field(
        True,
        description=(
            "Play files at their own frame rate (False: as fast as possible, each frame stamped with the "
            "run's start plus its position in the file)."
        ),
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig,
        description="Motion gating: only frames with motion (and a heartbeat) go to the face detector.",
    )


class CamerasFile(BaseModel):
    """The cameras file's top level: `cameras: [...]`."""

    model_config = ConfigDict(extra="forbid")

    cameras: list[CameraConfig] = Field(default_factory=list)


class CameraConfigError(ValueError):
    """The cameras file is missing, unreadable or invalid; the message names the file and the problem."""


def load_cameras(path: Path) -> list[CameraConfig]:
    try:
        text = path.read_text()
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise CameraConfigError(f"{path}: {error}") from error
    try:
        cameras = CamerasFile.model_validate(raw or {}).cameras
    except ValidationError as error:
        raise CameraConfigError(f"{path}: {error}") from error
    ids = [camera.id for camera in cameras]
    duplicates = sorted({camera_id for camera_id in ids if ids.count(camera_id) > 1})
    if duplicates:
        raise CameraConfigError(f"{path}: camera ids must be unique, repeated: {', '.join(duplicates)}")
    return cameras
