"""Motion gating: a per-camera background model on a small grey frame decides which frames need faces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

# Motion is judged on a frame this wide (height in proportion): enough for a person crossing a doorway,
# cheap enough (well under a millisecond) to run on every sampled frame.
ANALYSIS_WIDTH = 160


class MotionConfig(BaseModel):
    """Per camera: when a frame counts as moving (only those go to the face detector)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Send only frames with motion (False: every sampled frame).")
    pixel_threshold: int = Field(
        20, ge=1, le=255, description="Grey-level change from the background that makes a pixel move."
    )
    min_area: float = Field(
        0.003, gt=0, le=1, description="Share of the (unmasked) frame that must move to count as motion."
    )
    lighting_area: float = Field(
        0.6,
        gt=0,
        le=1,
        description="Above this share moving, the frame is a lighting change: the background restarts.",
    )
    background_rate: float = Field(
        0.05, gt=0, le=1, description="How fast the background follows the scene (share per frame)."
    )
    settle_frames: int = Field(
        3,
        ge=1,
        description=(
            "Consecutive frames that barely change from one to the next make the scene the new background "
            "(a parked car, a moved chair, the empty scene after someone left: no longer motion)."
        ),
    )
    keep_moving_frames: int = Field(
        5, ge=0, description="Frames still sent after motion stops, so a face that paused is not lost."
    )
    heartbeat_s: float = Field(
        30.0, ge=0, description="Send a still frame at least this often (0: never), to confirm the scene."
    )
    masks: list[list[tuple[float, float]]] = Field(
        default_factory=list,
        description="Polygons to ignore (a clock, trees), as [x, y] points in 0-1 of the frame's size.",
    )


class Verdict(StrEnum):
    """What the gate decided for one frame."""

    MOTION = "motion"
    STILL = "still"
    LIGHTING = "lighting"  # most of the frame changed at once: the background restarts, nothing is sent
    HEARTBEAT = "heartbeat"  # still, but sent so the scene is looked at now and then


@dataclass
class MotionGate:
    """Keeps one camera's background model; `check(frame, at)` says whether the frame should be analysed."""

    config: MotionConfig
    # Where in its heartbeat period this camera starts (0-1): cameras started together would otherwise
    # send their heartbeat frames at the same moments, a burst the workers answer late.
    heartbeat_phase: float = 0.0
    _background: np.ndarray | None = None
    _mask: np.ndarray | None = None
    _mask_pixels: int = 0
    _previous: np.ndarray | None = None
    _settled: int = 0
    _changing: int = 0  # frames of the current motion that changed from the frame before
    _moving_left: int = 0
    _last_sent_at: float | None = None

    def check(self, frame_bgr: np.ndarray, *, at: float) -> Verdict:
        small = _grey_small(frame_bgr)
        if self._background is None or self._background.shape != small.shape:
            self._background = small.astype(np.float32)
            self._mask = _mask_for(self.config.masks, small.shape)
            self._mask_pixels = int(self._mask.sum()) if self._mask is not None else 0
            self._previous = small
            # The first frame of a run is always looked at; the next heartbeat comes at this camera's phase.
            self._last_sent_at = at - self.config.heartbeat_s * self.heartbeat_phase
            return Verdict.MOTION
        moving = self.changed_share(small, cv2.convertScaleAbs(self._background))
        assert self._previous is not None
        steady = self.changed_share(small, self._previous) < self.config.min_area
        self._previous = small
        self._settled = self._settled + 1 if steady else 0
        cv2.accumulateWeighted(small.astype(np.float32), self._background, self.config.background_rate)
        if moving >= self.config.lighting_area:
            self._background = small.astype(np.float32)
            return Verdict.LIGHTING
        self._changing = (self._changing + (not steady)) if moving >= self.config.min_area else 0
        # A change made in one frame and then held (a lamp switched on, a door closed by the wind) is a
        # step, not someone moving: it becomes the background at its first steady frame, and nothing is
        # sent after it. Measured on the doorway recording of bench/pipeline.py, 8 cameras whose lighting
        # changed at the same moment each sent about 8 frames of a still scene per change, a burst the
        # workers answered in up to a second. A person walking in changes over several frames, and a
        # change that keeps changing waits `settle_frames` as before.
        step = self._changing <= 1
        if moving >= self.config.min_area and self._settled >= (1 if step else self.config.settle_frames):
            # Different from the background but unchanged for a while: the scene itself changed.
            self._background = small.astype(np.float32)
            moving = 0.0
            self._changing = 0
            if step:
                self._moving_left = 0
        if moving >= self.config.min_area:
            self._moving_left = self.config.keep_moving_frames
            return self._sent(Verdict.MOTION, at)
        if self._moving_left > 0:
            self._moving_left -= 1
            return self._sent(Verdict.MOTION, at)
        heartbeat = self.config.heartbeat_s
        if heartbeat > 0 and (self._last_sent_at is None or at - self._last_sent_at >= heartbeat):
            return self._sent(Verdict.HEARTBEAT, at)
        return Verdict.STILL

    def changed_share(self, small: np.ndarray, reference: np.ndarray) -> float:
        """Share of the unmasked pixels that differ from `reference` by more than the threshold."""
        changed = cv2.absdiff(small, reference) > self.config.pixel_threshold
        if self._mask is not None:
            return float((changed & self._mask).sum()) / max(self._mask_pixels, 1)
        return float(changed.mean())

    def _sent(self, verdict: Verdict, at: float) -> Verdict:
        self._last_sent_at = at
        return verdict


def heartbeat_phase(camera_id: str) -> float:
    """A fixed phase in 0-1 for a camera id (the same across restarts, spread across cameras)."""
    digest = hashlib.sha256(camera_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _grey_small(frame_bgr: np.ndarray) -> np.ndarray:
    height, width = frame_bgr.shape[:2]
    size = (ANALYSIS_WIDTH, max(1, round(height * ANALYSIS_WIDTH / width)))
    grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY) if frame_bgr.ndim == 3 else frame_bgr
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    # A light blur: sensor noise must not read as motion.
    blurred: np.ndarray = cv2.GaussianBlur(small, (5, 5), 0)
    return blurred


def _mask_for(polygons: list[list[tuple[float, float]]], shape: tuple[int, ...]) -> np.ndarray | None:
    """True where motion counts: everywhere except inside the masks' polygons."""
    if not polygons:
        return None
    height, width = shape[:2]
    ignored = np.zeros((height, width), dtype=np.uint8)
    for polygon in polygons:
        points = np.asarray([[x * width, y * height] for x, y in polygon], dtype=np.int32)
        cv2.fillPoly(ignored, [points], 1)
    counted: np.ndarray = ignored == 0
    return counted
