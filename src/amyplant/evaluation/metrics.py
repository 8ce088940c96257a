"""Pure evaluation figures of recognition: ROC AUC, thresholds, 10-fold accuracy, TAR@FAR, naming, ages.

Detection figures (IoU matching, AP) are amyplant_faces.detection_metrics: the trainer's gate uses them too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NAN = float("nan")


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


def fold_ranges(count: int, folds: int) -> list[range]:
    """`folds` contiguous chunks of `count` items in their order, sizes differing by at most one (the
    larger first): LFW's folds are consecutive blocks of its pairs file, never a reshuffle."""
    if folds < 1 or count < 0:
        raise ValueError(f"cannot split {count} items into {folds} folds")
    size, larger = divmod(count, folds)
    ranges, start = [], 0
    for index in range(folds):
        stop = start + size + (1 if index < larger else 0)
        ranges.append(range(start, stop))
        start = stop
    return ranges


@dataclass(frozen=True)
class FoldedAccuracy:
    """Accuracy with the threshold cross-validated over folds (None, with `reason`, when not measurable)."""

    mean: float | None
    std: float | None
    threshold: float | None
    accuracies: tuple[float, ...] = ()
    thresholds: tuple[float, ...] = ()
    reason: str | None = None


def cross_validated_accuracy(
    distances: np.ndarray, same: np.ndarray, *, always_wrong: np.ndarray | None = None, folds: int = 10
) -> FoldedAccuracy:
    """LFW's standard protocol: the pairs split into `folds` contiguous folds in file order; for each,
    the threshold with the best accuracy on the other folds (`best_threshold`) decides the held-out fold.
    `mean` and `std` (population, ddof=0, as the common LFW evaluation code reports it) are over the
    folds' accuracies; `threshold` is the mean of the chosen thresholds.

    `always_wrong` marks pairs that stay in their fold but count as an error whatever the threshold (a
    pair where a face was not found). A pair at distance +inf without that mark is decided "different".
    """
    distances = np.asarray(distances, dtype=np.float64).reshape(-1)
    same = np.asarray(same, dtype=bool).reshape(-1)
    wrong = np.zeros(len(distances), bool) if always_wrong is None else np.asarray(always_wrong, bool)
    wrong = wrong.reshape(-1)
    if not len(distances) == len(same) == len(wrong):
        raise ValueError(f"{len(distances)} distances, {len(same)} labels, {len(wrong)} always_wrong marks")
    if np.isnan(distances).any():
        raise ValueError("a distance is NaN; give +inf for a pair that cannot be compared")
    if len(distances) < folds:
        reason = f"{len(distances)} pairs: {folds}-fold accuracy needs at least {folds}"
        return FoldedAccuracy(None, None, None, reason=reason)
    # Pairs that are always wrong, or beyond every finite threshold, add the same count of right
    # decisions at every threshold: leaving them out of the choice changes neither its argmax nor its
    # tie-break, and keeps +inf out of best_threshold's gaps.
    decidable = np.isfinite(distances) & ~wrong
    accuracies: list[float] = []
    thresholds: list[float] = []
    for held_out in fold_ranges(len(distances), folds):
        training = decidable.copy()
        training[held_out.start : held_out.stop] = False
        # NaN when the other folds hold no decidable pair: every comparison is then False ("different").
        threshold = best_threshold(distances[training], same[training])
        test = slice(held_out.start, held_out.stop)
        right = ((distances[test] <= threshold) == same[test]) & ~wrong[test]
        accuracies.append(float(np.mean(right)))
        thresholds.append(threshold)
    chosen = [t for t in thresholds if np.isfinite(t)]
    return FoldedAccuracy(
        mean=float(np.mean(accuracies)),
        std=float(np.std(accuracies)),
        threshold=float(np.mean(chosen)) if chosen else None,
        accuracies=tuple(accuracies),
        thresholds=tuple(thresholds),
    )


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
