"""Parity of the face_landmarks graph with dlib's own shape predictor, on real or generated faces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from amyplant_modelbuild.builders.check_images import images_under, read_rgb
from amyplant_modelbuild.builders.embedder_check import Serve

HOG_UPSAMPLE = 1
# Rectangles that reach over the image's edges make the predictor read pixels outside it (zeros).
EDGE_SHIFTS = ((-0.6, 0.0), (0.0, -0.6), (0.6, 0.4))
GENERATED_IMAGES = 4
GENERATED_SIZE = (240, 320)


def _dlib_points(predictor: Any, dlib: Any, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    rectangles = [dlib.rectangle(*(int(v) for v in box)) for box in boxes]
    return np.asarray(
        [[(p.x, p.y) for p in predictor(rgb, rect).parts()] for rect in rectangles], dtype=np.float32
    ).reshape(-1, 5, 2)


def _shifted(boxes: np.ndarray) -> np.ndarray:
    """Each box moved by the EDGE_SHIFTS (fractions of its size), so some reach outside the image."""
    size = boxes[:, 2:] - boxes[:, :2]
    moved = [boxes + np.tile(size * np.asarray(shift), 2) for shift in EDGE_SHIFTS]
    return np.round(np.concatenate(moved)).astype(np.float32)


def _cases(data_dir: Path | None, dlib: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, image, rectangles) on the real photos (HOG detections and shifted copies), else noise."""
    detector = dlib.get_frontal_face_detector()
    cases = []
    folders = ("enroll", "probe", "photos", "video")
    for path in [p for folder in folders for p in images_under(data_dir / folder)] if data_dir else []:
        rgb = read_rgb(path)
        found = detector(rgb, HOG_UPSAMPLE)
        if not found:
            continue
        boxes = np.asarray([[r.left(), r.top(), r.right(), r.bottom()] for r in found], dtype=np.float32)
        cases.append((path.name, rgb, np.concatenate([boxes, _shifted(boxes)])))
    if not cases:
        generator = np.random.default_rng(5)
        for index in range(GENERATED_IMAGES):
            rgb = generator.integers(0, 256, (*GENERATED_SIZE, 3), dtype=np.uint8)
            boxes = np.asarray([[40, 30, 160, 150], [200, 100, 330, 230], [-50, -20, 60, 90]], np.float32)
            cases.append((f"noise{index}", rgb, boxes))
    return cases


def run(serve: Serve, data_dir: Path | None, predictor_file: Path) -> dict[str, Any]:
    """Largest landmark difference (pixels) between the graph and dlib, and how many faces differ."""
    import dlib  # imported here: only checks and tests need dlib

    predictor = dlib.shape_predictor(str(predictor_file))
    differences = []
    for _name, rgb, boxes in _cases(data_dir, dlib):
        ours = np.asarray(serve({"image": rgb, "boxes": boxes})["landmarks"], dtype=np.float32)
        theirs = _dlib_points(predictor, dlib, rgb, boxes)
        differences.append(np.abs(ours.reshape(theirs.shape) - theirs).reshape(len(boxes), -1).max(axis=1))
    every = np.concatenate(differences)
    return {
        "max_abs_diff": float(every.max()),
        "faces": len(every),
        "faces_differing": int((every > 0).sum()),
        "images": len(differences),
        "data": "shared photos (HOG boxes and shifted copies)" if data_dir else "generated noise",
    }
