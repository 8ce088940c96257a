"""What a face system must offer to be evaluated, and our own pipeline behind that interface."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from amyplant.evaluation.formats import FormatError
from amyplant_faces.pipeline.faces import ATTRIBUTES_CHIP_SIZE, EMBEDDER_CHIP_SIZE, FacePipeline
from amyplant_queue.frames import FrameUndecodable, decode_image

OURS = "amyplant"


@dataclass(frozen=True)
class EngineFace:
    """One face as the evaluation sees it: where it is, its descriptor and, where known, age and gender."""

    box: tuple[float, float, float, float]
    embedding: np.ndarray
    age: float | None = None
    female_probability: float | None = None

    @property
    def gender(self) -> str | None:
        if self.female_probability is None:
            return None
        return "female" if self.female_probability >= 0.5 else "male"


class FaceEngine(Protocol):
    """A face system under evaluation (ours, or a library to compare with)."""

    @property
    def name(self) -> str:
        """Column title in reports and key under `compare` in JSON."""

    @property
    def threshold(self) -> float:
        """Largest descriptor distance that still means the same person."""

    @property
    def has_attributes(self) -> bool:
        """Whether faces come with age and gender."""

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes [N, 4] (x1, y1, x2, y2 in pixels) and scores [N] of the faces in an RGB uint8 image."""

    def faces(self, image: np.ndarray) -> list[EngineFace]:
        """Every face with its descriptor, largest first."""


class PipelineEngine:
    """The running system's FacePipeline and model client, at one model version (None: the newest)."""

    def __init__(self, pipeline: FacePipeline, *, threshold: float, model_version: int | None = None) -> None:
        self.pipeline = pipeline
        self.model_version = model_version
        self._threshold = threshold

    @property
    def name(self) -> str:
        return OURS

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def has_attributes(self) -> bool:
        return self.pipeline.with_attributes

    def warm_up(self, *, detector_only: bool = False) -> None:
        """Load the models of this version before anything is timed (blank inputs, results unused)."""
        models, version = self.pipeline.models, self.model_version
        models.detect(np.zeros((64, 64, 3), dtype=np.uint8), model_version=version)
        if detector_only:
            return
        blank = np.zeros((64, 64, 3), dtype=np.uint8)
        models.landmarks(blank, np.asarray([[8, 8, 56, 56]], dtype=np.float32), model_version=version)
        chip = np.zeros((1, EMBEDDER_CHIP_SIZE, EMBEDDER_CHIP_SIZE, 3), dtype=np.uint8)
        models.embed(chip, model_version=version)
        if self.pipeline.with_attributes:
            small = np.zeros((1, ATTRIBUTES_CHIP_SIZE, ATTRIBUTES_CHIP_SIZE, 3), dtype=np.uint8)
            models.attributes(small, model_version=version)

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The detector alone, through the same model client the pipeline uses.
        detections = self.pipeline.models.detect(image, model_version=self.model_version)
        boxes = np.asarray([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        return boxes, np.asarray([d.score for d in detections], dtype=np.float64)

    def faces(self, image: np.ndarray) -> list[EngineFace]:
        return [
            EngineFace(face.box, face.embedding, face.age, face.female_probability)
            for face in self.pipeline.analyse(image, model_version=self.model_version)
        ]


def load_image(path: Path, listed_in: Path, line: int | None = None) -> np.ndarray:
    """An image file as RGB uint8; unreadable or undecodable files raise FormatError naming the list."""
    try:
        return decode_image(path.read_bytes())
    except OSError as error:
        reason = error.strerror or str(error)
        raise FormatError(listed_in, line, f"image {path} cannot be read ({reason})") from error
    except FrameUndecodable as error:
        raise FormatError(listed_in, line, f"image {path} is not a decodable image") from error


def largest_face(faces: list[EngineFace]) -> EngineFace | None:
    """The face with the largest box, for pairs and attributes where an image shows one person."""
    if not faces:
        return None
    return max(faces, key=lambda face: (face.box[2] - face.box[0]) * (face.box[3] - face.box[1]))


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
