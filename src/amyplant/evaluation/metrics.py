"""Pure evaluation figures: IoU matching, recall/precision, AP, ROC AUC, thresholds, TAR@FAR, naming."""

from __future__ import annotations

from collections import Counter
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


def roc_auc(similarity: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    similarity = np.asarray(similarity, dtype=np.float64).reshape(-1)
    positive = np.asarray(positive, dtype=bool).reshape(-1)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return NAN
    _, inverse, counts = np.unique(similarity, return_inverse=True, return_counts=True)
    # 1-based ranks, tied values sharing their average rank (Mann-Whitney U).
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    u_statistic = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))


def correct_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> int:
    """Pairs decided right when a distance at or below `threshold` means the same person."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    return int(np.sum((distances <= threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold with the most pairs decided right: the middle of the best gap between
    observed distances (the smallest such threshold when several are equally good)."""
    distances = np.asarray(distances, dtype=np.float64).reshape(-1)
    same = np.asarray(same, dtype=bool).reshape(-1)
    if len(distances) == 0:
        return NAN
    values, inverse = np.unique(distances, return_inverse=True)
    same_per_value = np.bincount(inverse, weights=same, minlength=len(values))
    different_per_value = np.bincount(inverse, weights=~same, minlength=len(values))
    # Accepting the k smallest distinct values (k = 0..U) as "same".
    accepted_same = np.concatenate([[0.0], np.cumsum(same_per_value)])
    accepted_different = np.concatenate([[0.0], np.cumsum(different_per_value)])
    correct = accepted_same + (different_per_value.sum() - accepted_different)
    k = int(np.argmax(correct))
    if k == 0:
        return float(np.nextafter(values[0], -np.inf))
    if k == len(values):
        return float(values[-1])
    return float((values[k - 1] + values[k]) / 2.0)


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float | None:
    """Share of same-person pairs accepted at the strictest threshold whose false accept rate is at most
    `far`; None when there are too few different-person pairs to measure that rate."""
    distances = np.asarray(distances, dtype=np.float64).reshape(-1)
    same = np.asarray(same, dtype=bool).reshape(-1)
    negatives = np.sort(distances[~same])
    positives = distances[same]
    if len(positives) == 0 or len(negatives) * far < 1:
        return None
    allowed = int(np.floor(len(negatives) * far + 1e-9))
    # Accepting everything strictly below the (allowed + 1)-th closest different-person pair.
    limit = negatives[allowed] if allowed < len(negatives) else np.inf
    return float(np.mean(positives < limit))


@dataclass(frozen=True)
class ProbeScore:
    """How the faces of one probe image were named against who is really in it."""

    expected: int
    found: int
    correct: int
    wrong: int
    unknown: int
    missed: int

    def __add__(self, other: ProbeScore) -> ProbeScore:
        return ProbeScore(
            self.expected + other.expected,
            self.found + other.found,
            self.correct + other.correct,
            self.wrong + other.wrong,
            self.unknown + other.unknown,
            self.missed + other.missed,
        )


def score_probe(expected: Sequence[str], named: Sequence[str | None]) -> ProbeScore:
    """`named` holds one name (or None: unknown) per detected face. A face named as someone who is not
    in the image, or a second face named as the same person, is wrong; expected people that no face was
    named as are missed."""
    wanted = Counter(expected)
    correct = wrong = 0
    for name in named:
        if name is None:
            continue
        if wanted[name] > 0:
            wanted[name] -= 1
            correct += 1
        else:
            wrong += 1
    unknown = sum(1 for name in named if name is None)
    return ProbeScore(len(expected), len(named), correct, wrong, unknown, len(expected) - correct)


def mean_absolute_error(predicted: Sequence[float], truth: Sequence[float]) -> float:
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} true values")
    if not truth:
        return NAN
    errors = np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.mean(np.abs(errors)))
