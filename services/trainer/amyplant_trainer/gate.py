"""The publication gate: a candidate detector is published only when it beats the served one."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from amyplant_faces.detection_metrics import average_precision
from amyplant_faces.models import repository
from amyplant_faces.models.inprocess import load_serving_function
from amyplant_trainer.labelme import Annotation

ServeFunction = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
DETECTOR = "face_detector"
# The IoU thresholds averaged by `ap_50_to_75`: AP@0.5 alone cannot tell a tight box from a loose one.
STRICT_IOU_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


@dataclass(frozen=True)
class DetectorScore:
    """A detector's figures on one split."""

    ap_50: float
    ap_50_to_75: float  # AP averaged over STRICT_IOU_THRESHOLDS; the gate decides on ap_50 alone
    ms_median: float
    images: int
    faces: int


def strict_average_precision(
    predictions: list[tuple[np.ndarray, np.ndarray]], truths: list[np.ndarray]
) -> tuple[float, float]:
    """(AP@0.5, AP averaged over STRICT_IOU_THRESHOLDS) of (boxes, scores) per image against true boxes."""
    by_threshold = {
        threshold: float(average_precision(predictions, truths, iou_threshold=threshold))
        for threshold in STRICT_IOU_THRESHOLDS
    }
    return by_threshold[0.5], float(np.mean(list(by_threshold.values())))


def score_detector(serve: ServeFunction, annotations: list[Annotation]) -> DetectorScore:
    """AP@0.5 (the evaluation command's metric), AP over IoU 0.5-0.75, and median time per image."""
    predictions: list[tuple[np.ndarray, np.ndarray]] = []
    truths: list[np.ndarray] = []
    timings: list[float] = []
    for annotation in annotations:
        bgr = cv2.imread(str(annotation.image_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{annotation.image_path}: cannot be decoded")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        started = time.perf_counter()
        outputs = serve({"image": image})
        timings.append((time.perf_counter() - started) * 1000)
        predictions.append(
            (np.asarray(outputs["boxes"]).reshape(-1, 4), np.asarray(outputs["scores"]).reshape(-1))
        )
        truths.append(annotation.box_array())
    ap_50, ap_50_to_75 = strict_average_precision(predictions, truths)
    return DetectorScore(
        ap_50=ap_50,
        ap_50_to_75=ap_50_to_75,
        ms_median=float(np.median(timings)) if timings else 0.0,
        images=len(annotations),
        faces=sum(len(t) for t in truths),
    )


def decide(candidate: DetectorScore, served: DetectorScore | None, *, force: bool) -> tuple[bool, str]:
    """Publish only a strictly better AP@0.5 (or when forced); the reason is recorded either way."""
    if force:
        return True, "forced"
    if served is None:
        return True, "no detector is served yet"
    if candidate.ap_50 > served.ap_50:
        return True, f"AP@0.5 {candidate.ap_50:.4f} > served {served.ap_50:.4f}"
    return False, f"AP@0.5 {candidate.ap_50:.4f} is not above the served detector's {served.ap_50:.4f}"


def served_score(repo: Path, annotations: list[Annotation]) -> tuple[int | None, DetectorScore | None]:
    version = repository.latest_version(repo, name=DETECTOR)
    if version is None:
        return None, None
    serve = load_serving_function(repository.version_dir(repo, name=DETECTOR, version=version))
    return version, score_detector(serve, annotations)


def gate_report(
    candidate: DetectorScore,
    served: DetectorScore | None,
    served_version: int | None,
    publish: bool,
    reason: str,
) -> dict[str, Any]:
    return {
        "candidate": candidate.__dict__,
        "served": served.__dict__ if served else None,
        "served_version": served_version,
        "publish": publish,
        "reason": reason,
    }
