"""Detection figures: IoU matching of predicted boxes to truth, recall/precision and average precision.

The trainer's gate, the detector builder's check and `amyplant eval detect` all score detectors with these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NAN = float("nan")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` [N, 4] with every box in `b` [M, 4] (x1, y1, x2, y2)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    intersection = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class ImageMatch:
    """One image's predictions after matching: the scores that count and which of them found a face."""

    scores: np.ndarray
    true_positive: np.ndarray
    faces: int


def match_image(
    boxes: np.ndarray,
    scores: np.ndarray,
    truth: np.ndarray,
    ignore: np.ndarray | None = None,
    *,
    iou_threshold: float,
) -> ImageMatch:
    """Greedy matching by descending score (PASCAL VOC): each face is found at most once; a prediction
    that only overlaps an ignored face is dropped, neither right nor wrong."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, 4)
    ignored = np.zeros(len(truth), dtype=bool) if ignore is None else np.asarray(ignore, dtype=bool)
    overlaps = iou_matrix(boxes, truth)
    taken = np.zeros(len(truth), dtype=bool)
    kept_scores: list[float] = []
    hits: list[bool] = []
    for index in np.argsort(-scores, kind="stable"):
        free = np.where(~ignored & ~taken, overlaps[index], -1.0)
        best = int(np.argmax(free)) if len(truth) else -1
        if best >= 0 and free[best] >= iou_threshold:
            taken[best] = True
            kept_scores.append(float(scores[index]))
            hits.append(True)
        elif len(truth) and np.any(overlaps[index][ignored] >= iou_threshold):
            continue
        else:
            kept_scores.append(float(scores[index]))
            hits.append(False)
    return ImageMatch(np.asarray(kept_scores), np.asarray(hits, dtype=bool), int((~ignored).sum()))


@dataclass(frozen=True)
class DetectionCounts:
    """Found faces, false detections and annotated faces over a set of images."""

    true_positives: int
    false_positives: int
    faces: int

    @property
    def recall(self) -> float:
        return self.true_positives / self.faces if self.faces else NAN

    @property
    def precision(self) -> float:
        detections = self.true_positives + self.false_positives
        return self.true_positives / detections if detections else NAN


def count_detections(matches: Sequence[ImageMatch]) -> DetectionCounts:
    true_positives = sum(int(m.true_positive.sum()) for m in matches)
    detections = sum(len(m.true_positive) for m in matches)
    return DetectionCounts(true_positives, detections - true_positives, sum(m.faces for m in matches))


def average_precision_of(matches: Sequence[ImageMatch]) -> float:
    """Area under the interpolated precision/recall curve (every point, as PASCAL VOC since 2010)."""
    faces = sum(m.faces for m in matches)
    if faces == 0:
        return NAN
    scores = np.concatenate([m.scores for m in matches]) if matches else np.zeros(0)
    hits = np.concatenate([m.true_positive for m in matches]) if matches else np.zeros(0, dtype=bool)
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    true_positives = np.cumsum(hits[order])
    precision = true_positives / np.arange(1, len(order) + 1)
    recall = true_positives / faces
    # The precision envelope: the best precision at this recall or any higher one.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * envelope))


def average_precision(
    predictions: Sequence[tuple[np.ndarray, np.ndarray]],
    truths: Sequence[np.ndarray],
    *,
    iou_threshold: float = 0.5,
    ignores: Sequence[np.ndarray] | None = None,
) -> float:
    """AP over images: `predictions` holds (boxes [N, 4], scores [N]) per image, `truths` boxes [M, 4]."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predicted images but {len(truths)} annotated images")
    masks = list(ignores) if ignores is not None else [None] * len(truths)
    matches = [
        match_image(boxes, scores, truth, mask, iou_threshold=iou_threshold)
        for (boxes, scores), truth, mask in zip(predictions, truths, masks, strict=True)
    ]
    return average_precision_of(matches)
