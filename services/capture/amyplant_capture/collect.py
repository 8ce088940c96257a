"""Collection mode: every Nth frame of a camera saved as JPEG into a dataset folder for the trainer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np


class FrameCollector:
    """Saves every `every`-th frame offered, as <camera>_<UTC time>.jpg, so names sort by camera and time."""

    def __init__(self, folder: Path, *, camera_id: str, every: int, jpeg_quality: int = 95) -> None:
        if every < 1:
            raise ValueError(f"--every must be at least 1, got {every}")
        self.folder = folder
        self.camera_id = camera_id
        self.every = every
        self.jpeg_quality = jpeg_quality
        self.offered = 0
        self.saved = 0
        folder.mkdir(parents=True, exist_ok=True)

    def offer(self, frame_rgb: np.ndarray, *, now: datetime | None = None) -> Path | None:
        """Count a frame and save it when it is an Nth one; returns the file written, if any."""
        self.offered += 1
        if (self.offered - 1) % self.every:
            return None
        path = self._free_path(now or datetime.now(UTC))
        image = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]):
            raise OSError(f"could not write {path}")
        self.saved += 1
        return path

    def _free_path(self, now: datetime) -> Path:
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S_%fZ")
        path = self.folder / f"{self.camera_id}_{stamp}.jpg"
        counter = 1
        while path.exists():  # folder frames come faster than the clock's resolution
            path = self.folder / f"{self.camera_id}_{stamp}_{counter}.jpg"
            counter += 1
        return path
