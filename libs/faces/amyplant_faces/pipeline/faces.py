"""The face pipeline — detect, align, attributes, embed — written once for workers, gallery and evaluation."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from amyplant_faces.hog.model import HogModel
from amyplant_faces.models.client import Attributes, Detection, ModelClient
from amyplant_faces.pipeline.alignment import align_face
from amyplant_faces.pipeline.dlib_chip import extract_face_chip
from amyplant_faces.pipeline.landmarks import dlib_points
from amyplant_faces.pipeline.small_faces import detect_with_tiles

log = logging.getLogger(__name__)

EMBEDDER_CHIP_SIZE = 150
EMBEDDER_CHIP_PADDING = 0.25
ATTRIBUTES_CHIP_SIZE = 64
ATTRIBUTES_CHIP_PADDING = 0.2
HOG_REFRESH_S = 60.0


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
    landmarks: np.ndarray  # the detector's 5 points: eyes, nose tip, mouth corners
    embedding: np.ndarray
    chip: np.ndarray
    quality: FaceQuality
    age: float | None = None
    female_probability: float | None = None
    # dlib's 5 points (eye corners, below the nose) that placed the embedder's chip.
    chip_points: np.ndarray | None = None

    @property
    def gender(self) -> str | None:
        if self.female_probability is None:
            return None
        return "female" if self.female_probability >= 0.5 else "male"


class FacePipeline:
    """Runs the four models over an image; landmarks, attributes and embeddings are batched over its faces.

    The embedder's chip is cut as face_recognition cuts it (dlib's 5 points from the face_landmarks
    model, dlib's chip geometry), the geometry the network was trained on; the attributes chip keeps the
    detector's points and the template its nets were measured with."""

    def __init__(
        self,
        models: ModelClient,
        *,
        with_attributes: bool = True,
        small_face_px: float = 0.0,
        tiled_from_px: int = 0,
    ) -> None:
        """`small_face_px` > 0: images whose longer side reaches `tiled_from_px` are also searched in
        tiles for faces down to that size (one detector call per tile; see small_faces.py)."""
        self.models = models
        self.with_attributes = with_attributes
        self.small_face_px = small_face_px
        self.tiled_from_px = tiled_from_px
        # The HOG detector the landmarks model carries, per requested version: (fetched at, model or None).
        self._hog: dict[int | None, tuple[float, HogModel | None]] = {}

    def analyse(self, image: np.ndarray, *, model_version: int | None = None) -> list[FaceObservation]:
        """Every face in an RGB uint8 image, largest first."""
        faces = self.describe(
            image, self.detect(image, model_version=model_version), model_version=model_version
        )
        return sorted(faces, key=lambda face: face.quality.size_px, reverse=True)

    def detect(self, image: np.ndarray, *, model_version: int | None = None) -> list[Detection]:
        """The faces' boxes and detector points only (the first, cheapest step of analyse)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}"
            )
        if self.small_face_px > 0 and max(image.shape[:2]) >= self.tiled_from_px:
            return detect_with_tiles(
                self.models, image, min_face_px=self.small_face_px, model_version=model_version
            )
        return self.models.detect(image, model_version=model_version)

    def describe(
        self, image: np.ndarray, detections: list[Detection], *, model_version: int | None = None
    ) -> list[FaceObservation]:
        """The rest of analyse for the given detections of the image, in their order: landmarks, chips,
        embeddings and attributes, batched over the faces."""
        if not detections:
            return []
        hog = self._hog_model(model_version)
        points = dlib_points(self.models, image, detections, model_version=model_version, hog=hog)
        chips = np.stack(
            [
                extract_face_chip(image, face_points, size=EMBEDDER_CHIP_SIZE, padding=EMBEDDER_CHIP_PADDING)
                for face_points in points
            ]
        )
        embeddings = self.models.embed(chips, model_version=model_version)
        attributes = self._attributes(image, detections, model_version)
        return [
            FaceObservation(
                box=detection.box,
                score=detection.score,
                landmarks=detection.landmarks_array(),
                embedding=np.asarray(embedding, dtype=np.float32),
                chip=chip,
                quality=FaceQuality.measure(detection.box, chip),
                age=attribute.age if attribute else None,
                female_probability=attribute.female_probability if attribute else None,
                chip_points=face_points,
            )
            for detection, chip, embedding, attribute, face_points in zip(
                detections, chips, embeddings, attributes, points, strict=True
            )
        ]

    def _hog_model(self, model_version: int | None) -> HogModel | None:
        """dlib's HOG detector from the landmarks model, fetched once and again after HOG_REFRESH_S (a new
        version may be served); None when the served version does not carry it (built before it did)."""
        now = time.monotonic()
        cached = self._hog.get(model_version)
        if cached is not None and now - cached[0] < HOG_REFRESH_S:
            return cached[1]
        try:
            model: HogModel | None = HogModel.from_weights(
                self.models.hog_detector(model_version=model_version)
            )
        except ValueError as error:
            if cached is None or cached[1] is not None:
                log.warning(
                    "no HOG detector in the landmarks model (%s): dlib points from estimated boxes", error
                )
            model = None
        self._hog[model_version] = (now, model)
        return model

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
