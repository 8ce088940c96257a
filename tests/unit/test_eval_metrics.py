"""Evaluation figures on generated data whose right answers are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amyplant.evaluation.metrics import (
    best_threshold,
    correct_at,
    cross_validated_accuracy,
    fold_ranges,
    mean_absolute_error,
    roc_auc,
    score_probe,
    tar_at_far,
)
from amyplant_faces.detection_metrics import average_precision, count_detections, iou_matrix, match_image


def test_iou_of_known_boxes() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    overlaps = iou_matrix(a, b)
    assert overlaps.shape == (2, 3)
    np.testing.assert_allclose(overlaps[0], [1.0, 50 / 150, 0.0])


def test_iou_of_empty_sets_has_the_right_shape() -> None:
    assert iou_matrix(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)


def test_matching_counts_each_face_once_and_drops_ignored_faces() -> None:
    truth = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], dtype=float)
    ignore = np.array([False, True])
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [100, 100, 110, 110], [50, 50, 60, 60]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    match = match_image(boxes, scores, truth, ignore, iou_threshold=0.5)
    # The duplicate of face 0 is a false positive; the ignored face's detection is not counted at all.
    assert match.true_positive.tolist() == [True, False, False]
    assert match.scores.tolist() == [0.9, 0.8, 0.6]
    assert match.faces == 1


def test_recall_and_precision_depend_on_the_iou_threshold() -> None:
    truth = np.array([[0, 0, 100, 100]], dtype=float)
    # IoU of this box with the truth: 4000 / 10000 = 0.4.
    boxes = np.array([[0, 0, 100, 40]], dtype=float)
    strict = count_detections([match_image(boxes, np.array([1.0]), truth, iou_threshold=0.5)])
    loose = count_detections([match_image(boxes, np.array([1.0]), truth, iou_threshold=0.3)])
    assert (strict.recall, strict.precision) == (0.0, 0.0)
    assert (loose.recall, loose.precision) == (1.0, 1.0)


def test_no_detections_leave_precision_undefined() -> None:
    match = match_image(np.zeros((0, 4)), np.zeros(0), np.array([[0, 0, 5, 5]]), iou_threshold=0.5)
    counts = count_detections([match])
    assert counts.recall == 0.0
    assert math.isnan(counts.precision)


def test_average_precision_of_a_known_ranking() -> None:
    truth = [np.array([[0, 0, 10, 10]], dtype=float), np.array([[0, 0, 10, 10]], dtype=float)]
    predictions = [
        (np.array([[0, 0, 10, 10], [50, 50, 60, 60]], dtype=float), np.array([0.9, 0.8])),
        (np.array([[0, 0, 10, 10]], dtype=float), np.array([0.7])),
    ]
    # Ranked: hit, miss, hit -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: AP = 0.5 * 1 + 0.5 * 2/3.
    assert average_precision(predictions, truth, iou_threshold=0.5) == pytest.approx(0.5 + 1 / 3)


def test_average_precision_is_one_for_a_perfect_detector_and_nan_without_faces() -> None:
    truth = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=float)]
    assert average_precision([(truth[0], np.array([0.5, 0.6]))], truth) == 1.0
    assert math.isnan(average_precision([(np.zeros((0, 4)), np.zeros(0))], [np.zeros((0, 4))]))


def test_auc_counts_ties_as_half() -> None:
    assert roc_auc(np.array([3.0, 2.0, 1.0]), np.array([True, True, False])) == 1.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    # Positives 0.8, 0.4; negatives 0.6, 0.2: 3 of 4 positive/negative orderings are right.
    assert roc_auc(np.array([0.8, 0.4, 0.6, 0.2]), np.array([True, True, False, False])) == 0.75


def test_best_threshold_sits_in_the_middle_of_the_best_gap() -> None:
    distances = np.array([0.1, 0.2, 0.5, 0.7])
    same = np.array([True, True, False, False])
    threshold = best_threshold(distances, same)
    assert threshold == pytest.approx(0.35)
    assert correct_at(distances, same, threshold) == 4
    assert correct_at(distances, same, 0.15) == 3


def test_best_threshold_when_every_pair_is_different_accepts_nothing() -> None:
    distances = np.array([0.3, 0.4])
    threshold = best_threshold(distances, np.array([False, False]))
    assert threshold < 0.3
    assert correct_at(distances, np.array([False, False]), threshold) == 2


def test_tar_at_far_allows_the_stated_share_of_false_accepts() -> None:
    negatives = np.linspace(0.5, 1.49, 100)  # 100 different-person pairs
    positives = np.array([0.1, 0.49, 0.505, 0.6])
    distances = np.concatenate([positives, negatives])
    same = np.concatenate([np.ones(4, bool), np.zeros(100, bool)])
    # FAR 1e-2 allows 1 false accept: the threshold sits below the second-closest negative (0.51).
    assert tar_at_far(distances, same, 1e-2) == 0.75
    assert tar_at_far(distances, same, 1e-3) is None


def test_tar_at_far_counts_a_pair_at_infinity_as_rejected() -> None:
    # Same-person pairs at +inf (a face not found) are never accepted; a different-person pair at +inf is
    # the farthest of the 100, so FAR 1e-2 (one false accept) still sets the limit below 0.51.
    negatives = np.concatenate([np.linspace(0.5, 1.48, 99), [np.inf]])
    distances = np.concatenate([[0.1, 0.49, np.inf, np.inf], negatives])
    same = np.concatenate([np.ones(4, bool), np.zeros(100, bool)])
    assert tar_at_far(distances, same, 1e-2) == 0.5


def test_folds_are_contiguous_blocks_in_file_order() -> None:
    folds = fold_ranges(23, 10)
    assert [(f.start, f.stop) for f in folds] == [
        (0, 3),
        (3, 6),
        (6, 9),
        (9, 11),
        (11, 13),
        (13, 15),
        (15, 17),
        (17, 19),
        (19, 21),
        (21, 23),
    ]
    assert [len(f) for f in fold_ranges(20, 10)] == [2] * 10
    assert [len(f) for f in fold_ranges(10, 10)] == [1] * 10
    with pytest.raises(ValueError):
        fold_ranges(5, 0)


def _alternating(count: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Same-person pairs (even lines) at 0.2, different-person pairs (odd lines) at 0.8: two per fold."""
    same = np.arange(count) % 2 == 0
    return np.where(same, 0.2, 0.8), same


def test_tenfold_accuracy_of_separable_pairs_is_one_at_the_middle_threshold() -> None:
    distances, same = _alternating()
    folded = cross_validated_accuracy(distances, same)
    assert (folded.mean, folded.std) == (1.0, 0.0)
    assert folded.threshold == pytest.approx(0.5)
    assert folded.reason is None


def test_tenfold_threshold_from_nine_folds_can_misclassify_the_held_out_fold() -> None:
    distances, same = _alternating()
    distances[4] = 0.6  # a hard same-person pair on line 5: fold 3 (lines 5-6)
    # On all 20 pairs a threshold of 0.7 decides everything right...
    assert correct_at(distances, same, best_threshold(distances, same)) == 20
    folded = cross_validated_accuracy(distances, same)
    # ...but the other nine folds alone choose 0.5, which rejects it: fold 3 scores 1/2. Every other
    # fold sees the hard pair in training and chooses (0.6 + 0.8) / 2 = 0.7.
    assert folded.accuracies == pytest.approx([1.0, 1.0, 0.5] + [1.0] * 7)
    assert folded.thresholds == pytest.approx([0.7, 0.7, 0.5] + [0.7] * 7)
    assert folded.mean == pytest.approx(0.95)
    # Population std: sqrt((9 * 0.05**2 + 0.45**2) / 10).
    assert folded.std == pytest.approx(0.15)
    assert folded.threshold == pytest.approx((9 * 0.7 + 0.5) / 10)


def test_tenfold_folds_follow_file_order() -> None:
    distances, same = _alternating()
    distances[16] = 0.6  # the same hard pair, now on line 17: fold 9 (lines 17-18)
    folded = cross_validated_accuracy(distances, same)
    assert folded.accuracies == pytest.approx([1.0] * 8 + [0.5, 1.0])
    assert folded.mean == pytest.approx(0.95)


def test_tenfold_counts_pairs_without_a_face_as_wrong_in_their_fold() -> None:
    distances, same = _alternating()
    no_face = np.zeros(20, bool)
    no_face[[0, 19]] = True  # a same-person pair in fold 1, a different-person pair in fold 10
    distances[no_face] = np.inf
    folded = cross_validated_accuracy(distances, same, always_wrong=no_face)
    assert folded.accuracies == pytest.approx([0.5] + [1.0] * 8 + [0.5])
    assert folded.mean == pytest.approx(0.9)
    assert folded.std == pytest.approx(0.2)
    # They never move the threshold: each fold still chooses the middle of 0.2 and 0.8.
    assert folded.thresholds == pytest.approx([0.5] * 10)
    # Merely at +inf (without always_wrong) they are decided "different": right for the different pair.
    rejected = cross_validated_accuracy(distances, same)
    assert rejected.accuracies == pytest.approx([0.5] + [1.0] * 9)


def test_tenfold_with_every_pair_failed_scores_zero_without_a_threshold() -> None:
    _, same = _alternating(10)
    failed = np.ones(10, bool)
    folded = cross_validated_accuracy(np.full(10, np.inf), same, always_wrong=failed)
    assert (folded.mean, folded.std, folded.threshold) == (0.0, 0.0, None)


def test_tenfold_needs_ten_pairs() -> None:
    distances, same = _alternating(9)
    folded = cross_validated_accuracy(distances, same)
    assert (folded.mean, folded.std, folded.threshold) == (None, None, None)
    assert folded.reason == "9 pairs: 10-fold accuracy needs at least 10"
    # Ten pairs: one per fold (leave one out), each decided right at 0.5.
    distances, same = _alternating(10)
    assert cross_validated_accuracy(distances, same).mean == 1.0


def test_tenfold_refuses_mismatched_or_nan_input() -> None:
    distances, same = _alternating()
    with pytest.raises(ValueError, match="always_wrong"):
        cross_validated_accuracy(distances, same, always_wrong=np.zeros(3, bool))
    distances[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cross_validated_accuracy(distances, same)


def test_probe_scores_name_wrong_and_duplicate_faces() -> None:
    score = score_probe(["obama", "biden"], ["obama", "obama", None, "kit"])
    assert (score.expected, score.found, score.correct, score.wrong, score.unknown, score.missed) == (
        2,
        4,
        1,
        2,
        1,
        1,
    )
    total = score + score_probe(["kit"], ["kit"])
    assert (total.correct, total.missed) == (2, 1)


def test_mean_absolute_error() -> None:
    assert mean_absolute_error([30.0, 40.0], [35.0, 39.0]) == 3.0
    assert math.isnan(mean_absolute_error([], []))


def test_error_rates_count_missed_faces_as_rejections() -> None:
    from amyplant.evaluation.verify import error_rates

    distances = np.array([0.30, 0.52, np.inf, 0.44, 0.58, 0.70])
    same = np.array([True, True, True, False, False, False])
    rates = error_rates(distances, same)
    # At 0.50: one different-person pair of three accepted; two same-person pairs of three rejected
    # (0.52, and the pair without a face).
    assert rates["rates_0.50"] == "0.3333 / 0.6667"
    assert rates["rates_0.60"] == "0.6667 / 0.3333"
    assert rates["rates_0.40"] == "0.0000 / 0.6667"
