"""The face pipeline — detect, align, attributes, embed — written once for workers, gallery and evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from amyplant_faces.models.client import Attributes, Detection, ModelClient
from amyplant_faces.pipeline.alignment import align_face

EMBEDDER_CHIP_SIZE = 150
EMBEDDER_CHIP_PADDING = 0.25
ATTRIBUTES_CHIP_SIZE = 64
ATTRIBUTES_CHIP_PADDING = 0.2


@dataclass(frozen=True)
class FaceQuality:
    """Figures that decide whether a face is good enough to enroll or to name someone."""

    size_px: float
    sharpness: float

    @staticmethod
    def measure(box: tuple[float, float, float, float], chip: np.ndarray) -> FaceQuality:
        # Variance of the Laplacian on the aligned chip: low values mean a blurred face.
        gray = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
        sharpness = float(cv2.Laplacian(gray, cv2.CV_64F).var())
        return FaceQuality(size_px=float(min(box[2] - box[0], box[3] - box[1])), sharpness=sharpness)


@dataclass(frozen=True)
class FaceObservation:
    """One face found in one image, with everything the system knows about it."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    embedding: np.ndarray
    chip: np.ndarray
    quality: FaceQuality
    age: float | None = None
    female_probability: float | None = None

    @property
    def gender(self) -> str | None:
        if self.female_probability is None:
            return None
        return "female" if self.female_probability >= 0.5 else "male"


class FacePipeline:
    """Runs the three models over an image; attributes and embeddings are batched over its faces."""

    def __init__(self, models: ModelClient, *, with_attributes: bool = True) -> None:
        self.models = models
        self.with_attributes = with_attributes

    def analyse(self, image: np.ndarray, *, model_version: int | None = None) -> list[FaceObservation]:
        """Every face in an RGB uint8 image, largest first."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}"
            )
        detections = self.models.detect(image, model_version=model_version)
        if not detections:
            return []
        chips = np.stack(
            [
                align_face(image, d.landmarks_array(), size=EMBEDDER_CHIP_SIZE, padding=EMBEDDER_CHIP_PADDING)
                for d in detections
            ]
        )
        embeddings = self.models.embed(chips, model_version=model_version)
        attributes = self._attributes(image, detections, model_version)
        faces = [
            FaceObservation(
                box=detection.box,
                score=detection.score,
                landmarks=detection.landmarks_array(),
                embedding=np.asarray(embedding, dtype=np.float32),
                chip=chip,
                quality=FaceQuality.measure(detection.box, chip),
                age=attribute.age if attribute else None,
                female_probability=attribute.female_probability if attribute else None,
            )
            for detection, chip, embedding, attribute in zip(
                detections, chips, embeddings, attributes, strict=True
            )
        ]
        return sorted(faces, key=lambda face: face.quality.size_px, reverse=True)

    def _attributes(
        self, image: np.ndarray, detections: list[Detection], model_version: int | None
    ) -> list[Attributes | None]:
        if not self.with_attributes:
            return [None for _ in detections]
        chips = np.stack(
            [
                align_face(
                    image, d.landmarks_array(), size=ATTRIBUTES_CHIP_SIZE, padding=ATTRIBUTES_CHIP_PADDING
                )
                for d in detections
            ]
        )
        return list(self.models.attributes(chips, model_version=model_version))
