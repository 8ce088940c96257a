"""The face_recognition library's own pipeline (HOG detector, 5-point alignment, dlib descriptor, 0.6),
evaluated beside ours so users can check our figures against a well-known reference."""

from __future__ import annotations

from typing import Any

import numpy as np

from amyplant.evaluation.engines import EngineFace, FaceEngine

FACE_RECOGNITION = "face_recognition"
COMPARE_CHOICES = (FACE_RECOGNITION,)
# face_recognition's documented defaults: one upsampling for the HOG detector, one jitter, tolerance 0.6.
UPSAMPLE = 1
JITTERS = 1
TOLERANCE = 0.6
# --no-deps: face-recognition requires the `dlib` source distribution, which would compile dlib; the
# dlib-bin wheel we depend on already provides the same module.
INSTALL_HINT = (
    "--compare face_recognition needs the face_recognition library (the `compare` extra); install it with "
    "pip install --no-deps face-recognition==1.3.0"
)


def _library() -> Any:
    try:
        import face_recognition
    except ImportError as error:
        raise RuntimeError(f"{INSTALL_HINT} ({error})") from error
    return face_recognition


class FaceRecognitionEngine:
    """face_recognition 1.3 called the way its README does: face_locations(model='hog') then
    face_encodings(model='small'), compared at its default tolerance."""

    def __init__(self) -> None:
        self._library = _library()

    @property
    def name(self) -> str:
        return FACE_RECOGNITION

    @property
    def threshold(self) -> float:
        return TOLERANCE

    @property
    def has_attributes(self) -> bool:
        return False

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # face_locations() drops the HOG scores; the library's detector object gives the same boxes with
        # them (threshold 0 is what face_locations uses), so AP can rank its detections.
        rects, scores, _ = self._library.api.face_detector.run(image, UPSAMPLE, 0.0)
        boxes = [_box(self._trim(rect, image.shape)) for rect in rects]
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores, dtype=np.float64)

    def faces(self, image: np.ndarray) -> list[EngineFace]:
        locations = self._library.face_locations(image, number_of_times_to_upsample=UPSAMPLE, model="hog")
        encodings = self._library.face_encodings(
            image, known_face_locations=locations, num_jitters=JITTERS, model="small"
        )
        faces = [
            EngineFace(_box(location), np.asarray(encoding, dtype=np.float32))
            for location, encoding in zip(locations, encodings, strict=True)
        ]
        return sorted(
            faces, key=lambda face: (face.box[2] - face.box[0]) * (face.box[3] - face.box[1]), reverse=True
        )

    def _trim(self, rect: Any, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        css: tuple[int, int, int, int] = self._library.api._trim_css_to_bounds(
            self._library.api._rect_to_css(rect), shape
        )
        return css


def _box(css: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """face_recognition's (top, right, bottom, left), inclusive pixels, as x1, y1, x2, y2 edges."""
    top, right, bottom, left = css
    return float(left), float(top), float(right + 1), float(bottom + 1)


def comparison_engines(names: list[str] | None) -> list[FaceEngine]:
    """The engines named by --compare (only face_recognition today)."""
    engines: list[FaceEngine] = []
    for name in names or []:
        if name != FACE_RECOGNITION:
            raise ValueError(f"unknown --compare {name!r}; choose from {', '.join(COMPARE_CHOICES)}")
        engines.append(FaceRecognitionEngine())
    return engines
