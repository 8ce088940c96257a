"""LabelMe annotation files: reading and validating face rectangles (and landmarks), and writing them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FACE_LABEL = "face"
LABELME_VERSION = "5.2.1"
# Landmark points are stored as LabelMe "point" shapes grouped with their rectangle by group_id.
LANDMARK_LABELS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
KNOWN_SHAPE_TYPES = {"rectangle", "point"}


class AnnotationError(ValueError):
    """An annotation file is unusable; the message names the file and what is wrong."""


@dataclass(frozen=True)
class FaceBox:
    """One annotated face in image pixels, with its 5 landmarks when the annotator gave them."""

    x1: float
    y1: float
    x2: float
    y2: float
    landmarks: tuple[tuple[float, float], ...] | None = None


@dataclass
class Annotation:
    """One image and its faces; an image with no face is a negative example."""

    image_path: Path
    width: int
    height: int
    faces: list[FaceBox] = field(default_factory=list)

    def box_array(self) -> np.ndarray:
        """The faces' boxes as float32 [F, 4] x1, y1, x2, y2 pixels (what AP is scored against)."""
        return np.asarray([[f.x1, f.y1, f.x2, f.y2] for f in self.faces], dtype=np.float32).reshape(-1, 4)


def annotation_path(image_path: Path) -> Path:
    return image_path.with_suffix(".json")


def read_annotation(json_path: Path, *, check_image: bool = True) -> Annotation:
    """Parse and validate one LabelMe file; every problem raises AnnotationError naming the file."""
    try:
        document = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AnnotationError(f"{json_path}: not readable LabelMe JSON ({error})") from error
    if not isinstance(document, dict):
        raise AnnotationError(f"{json_path}: the top level must be an object")
    width, height = _size(document, json_path)
    image_path = json_path.parent / str(document.get("imagePath") or "")
    if check_image:
        _check_image(image_path, width, height, json_path)
    shapes = document.get("shapes")
    if not isinstance(shapes, list):
        raise AnnotationError(f"{json_path}: 'shapes' must be a list")
    faces = _faces(shapes, width, height, json_path)
    return Annotation(image_path=image_path, width=width, height=height, faces=faces)


def _size(document: dict[str, Any], json_path: Path) -> tuple[int, int]:
    width, height = document.get("imageWidth"), document.get("imageHeight")
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        raise AnnotationError(f"{json_path}: imageWidth and imageHeight must be positive integers")
    return width, height


def _check_image(image_path: Path, width: int, height: int, json_path: Path) -> None:
    if not image_path.is_file():
        raise AnnotationError(f"{json_path}: image {image_path.name!r} is missing")
    image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise AnnotationError(f"{json_path}: image {image_path.name!r} cannot be decoded")
    if image.shape[1] != width or image.shape[0] != height:
        raise AnnotationError(
            f"{json_path}: image is {image.shape[1]}x{image.shape[0]}, the annotation says {width}x{height}"
        )


def _faces(shapes: list[Any], width: int, height: int, json_path: Path) -> list[FaceBox]:
    rectangles: list[tuple[Any, list[float]]] = []
    points: dict[Any, dict[str, tuple[float, float]]] = {}
    for index, shape in enumerate(shapes):
        where = f"{json_path}: shape {index}"
        if not isinstance(shape, dict):
            raise AnnotationError(f"{where}: must be an object")
        kind = shape.get("shape_type", "polygon")
        if kind not in KNOWN_SHAPE_TYPES:
            raise AnnotationError(
                f"{where}: unsupported shape_type {kind!r} (use rectangle, or point for landmarks)"
            )
        coordinates = _points(shape.get("points"), where, width, height)
        label = shape.get("label")
        if kind == "rectangle":
            if label != FACE_LABEL:
                raise AnnotationError(f"{where}: unknown rectangle label {label!r} (expected {FACE_LABEL!r})")
            if len(coordinates) != 2:
                raise AnnotationError(f"{where}: a rectangle needs exactly 2 points")
            (xa, ya), (xb, yb) = coordinates
            if abs(xb - xa) < 1 or abs(yb - ya) < 1:
                raise AnnotationError(f"{where}: the rectangle is empty")
            rectangles.append((shape.get("group_id"), [min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)]))
        else:
            if label not in LANDMARK_LABELS:
                raise AnnotationError(
                    f"{where}: unknown point label {label!r} (expected one of {LANDMARK_LABELS})"
                )
            points.setdefault(shape.get("group_id"), {})[label] = coordinates[0]
    return [_face(group, box, points) for group, box in rectangles]


def _face(group: Any, box: list[float], points: dict[Any, dict[str, tuple[float, float]]]) -> FaceBox:
    grouped = points.get(group, {}) if group is not None else {}
    landmarks = tuple(grouped[label] for label in LANDMARK_LABELS) if len(grouped) == 5 else None
    return FaceBox(box[0], box[1], box[2], box[3], landmarks=landmarks)


def _points(raw: Any, where: str, width: int, height: int) -> list[tuple[float, float]]:
    if not isinstance(raw, list) or not raw:
        raise AnnotationError(f"{where}: 'points' must be a non-empty list of [x, y]")
    result = []
    for point in raw:
        if not (
            isinstance(point, list) and len(point) == 2 and all(isinstance(v, int | float) for v in point)
        ):
            raise AnnotationError(f"{where}: every point must be [x, y] numbers, got {point!r}")
        x, y = float(point[0]), float(point[1])
        # A point a pixel outside is common when drawing to the border; anything further is a mistake.
        if not (-1 <= x <= width + 1 and -1 <= y <= height + 1):
            raise AnnotationError(f"{where}: point ({x:.1f}, {y:.1f}) is outside the {width}x{height} image")
        result.append((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))))
    return result


def write_annotation(annotation: Annotation) -> Path:
    """Write a LabelMe file beside the image (rectangles labelled `face`, landmarks as grouped points)."""
    shapes: list[dict[str, Any]] = []
    for group, face in enumerate(annotation.faces):
        shapes.append(_shape(FACE_LABEL, [[face.x1, face.y1], [face.x2, face.y2]], "rectangle", group))
        for label, (x, y) in zip(LANDMARK_LABELS, face.landmarks or (), strict=False):
            shapes.append(_shape(label, [[x, y]], "point", group))
    document: dict[str, Any] = {
        "version": LABELME_VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": annotation.image_path.name,
        "imageData": None,
        "imageHeight": annotation.height,
        "imageWidth": annotation.width,
    }
    target = annotation_path(annotation.image_path)
    target.write_text(json.dumps(document, indent=2))
    return target


def _shape(label: str, points: list[list[float]], kind: str, group: int) -> dict[str, Any]:
    rounded = [[round(float(x), 2), round(float(y), 2)] for x, y in points]
    return {
        "label": label,
        "points": rounded,
        "group_id": group,
        "description": "",
        "shape_type": kind,
        "flags": {},
    }
