"""`amyplant eval verify`: same-person / different-person decisions on listed pairs of images."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amyplant.evaluation.engines import FaceEngine, descriptor_distance, largest_face, load_image
from amyplant.evaluation.formats import Pair
from amyplant.evaluation.metrics import (
    best_threshold,
    correct_at,
    cross_validated_accuracy,
    roc_auc,
    tar_at_far,
)
from amyplant.evaluation.report import Row, table

FAR_LEVELS = {"tar_at_far_1e-2": 1e-2, "tar_at_far_1e-3": 1e-3}
# Thresholds at which the false-accept and false-reject rates are reported (the gallery's default
# match and visitor thresholds are chosen from them: docs/EVALUATION.md).
RATE_THRESHOLDS = (0.40, 0.45, 0.50, 0.55, 0.60, 0.65)
FOLDS = 10
ROWS = (
    Row("pairs", "pairs", "count"),
    Row("same-person pairs", "same_pairs", "count"),
    Row("images with no face", "no_face", "count"),
    Row("pairs with no face (errors)", "no_face_pairs", "count"),
    Row("threshold", "threshold", "number"),
    Row("accuracy @ threshold", "accuracy"),
    Row("best threshold", "best_threshold", "number"),
    Row("accuracy @ best threshold", "best_accuracy"),
    Row("10-fold accuracy", "tenfold_accuracy"),
    Row("10-fold accuracy std", "tenfold_std"),
    Row("10-fold mean threshold", "tenfold_threshold", "number"),
    Row("ROC AUC (all pairs)", "auc"),
    Row("ROC AUC (pairs with both faces)", "auc_both_faces"),
    Row("TAR @ FAR 1e-2 (all pairs)", "tar_at_far_1e-2"),
    Row("TAR @ FAR 1e-3 (all pairs)", "tar_at_far_1e-3"),
    Row("FAR / FRR @ 0.40", "rates_0.40", "text"),
    Row("FAR / FRR @ 0.45", "rates_0.45", "text"),
    Row("FAR / FRR @ 0.50", "rates_0.50", "text"),
    Row("FAR / FRR @ 0.55", "rates_0.55", "text"),
    Row("FAR / FRR @ 0.60", "rates_0.60", "text"),
    Row("FAR / FRR @ 0.65", "rates_0.65", "text"),
    Row("largest same-person distance", "same_distance_max", "number"),
    Row("smallest different-person distance", "different_distance_min", "number"),
    Row("median ms / image", "ms_median", "ms"),
)
NO_FACE_NOTE = (
    "A pair where a face was not found (in one image or both) is an error in every accuracy, the 10-fold\n"
    "one included (in the fold it falls in), and a rejected pair (distance +inf) in the all-pairs ROC AUC\n"
    "and TAR @ FAR. 10-fold: 10 contiguous folds in file order, each decided at the threshold best on the\n"
    "other nine; std over the folds (ddof=0)."
)


def _descriptors(
    engines: Sequence[FaceEngine], pairs: Sequence[Pair], pairs_path: Path
) -> tuple[dict[str, dict[Path, np.ndarray | None]], dict[str, list[float]]]:
    """The largest face's descriptor of every listed image, per engine (None: no face found)."""
    first_line: dict[Path, int] = {}
    for pair in pairs:
        first_line.setdefault(pair.file_x, pair.line)
        first_line.setdefault(pair.file_y, pair.line)
    descriptors: dict[str, dict[Path, np.ndarray | None]] = {engine.name: {} for engine in engines}
    timings: dict[str, list[float]] = {engine.name: [] for engine in engines}
    for path, line in first_line.items():
        image = load_image(path, pairs_path, line)
        for engine in engines:
            started = time.perf_counter()
            face = largest_face(engine.faces(image))
            timings[engine.name].append((time.perf_counter() - started) * 1000.0)
            descriptors[engine.name][path] = None if face is None else face.embedding
    return descriptors, timings


def verification_figures(
    distances: np.ndarray, same: np.ndarray, *, no_face: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Figures over every pair in file order; `no_face` marks the pairs where a face was not found,
    whose distance is +inf. Those are errors in the accuracies, whatever their label (a pair the system
    could not compare is not a decision it got right), and a rejected pair in ROC AUC and TAR@FAR (a
    missed face is a rejected same-person pair and a correctly rejected different-person pair)."""
    distances = np.asarray(distances, dtype=np.float64).reshape(-1)
    same = np.asarray(same, dtype=bool).reshape(-1)
    no_face = np.asarray(no_face, dtype=bool).reshape(-1)
    found = ~no_face
    total = len(distances)
    found_distances, found_same = distances[found], same[found]
    best = best_threshold(found_distances, found_same) if found.any() else None
    folded = cross_validated_accuracy(distances, same, always_wrong=no_face, folds=FOLDS)
    figures: dict[str, Any] = {
        "threshold": threshold,
        "accuracy": correct_at(found_distances, found_same, threshold) / total if total else None,
        "best_threshold": best,
        "best_accuracy": correct_at(found_distances, found_same, best) / total if best is not None else None,
        "tenfold_accuracy": folded.mean,
        "tenfold_std": folded.std,
        "tenfold_threshold": folded.threshold,
        "tenfold_fold_accuracies": list(folded.accuracies),
        "tenfold_fold_thresholds": list(folded.thresholds),
        "tenfold_reason": folded.reason,
        "auc": roc_auc(-distances, same),
        # The descriptor alone, without the detector's misses: differs from `auc` only with no-face pairs.
        "auc_both_faces": roc_auc(-found_distances, found_same),
    }
    for key, far in FAR_LEVELS.items():
        figures[key] = tar_at_far(distances, same, far)
    # The margin around the threshold, telling apart two systems that both decide every pair right.
    figures["same_distance_max"] = float(found_distances[found_same].max()) if found_same.any() else None
    different = ~found_same
    figures["different_distance_min"] = float(found_distances[different].min()) if different.any() else None
    return figures


def evaluate_verification(
    engines: Sequence[FaceEngine], pairs: Sequence[Pair], pairs_path: Path
) -> dict[str, dict[str, Any]]:
    descriptors, timings = _descriptors(engines, pairs, pairs_path)
    same = np.asarray([p.same for p in pairs], dtype=bool)
    columns: dict[str, dict[str, Any]] = {}
    for engine in engines:
        found = descriptors[engine.name]
        # Every pair stays, in file order (the 10-fold protocol's folds); +inf where a face is missing.
        distances = np.full(len(pairs), np.inf)
        no_face = np.ones(len(pairs), dtype=bool)
        for index, pair in enumerate(pairs):
            x, y = found[pair.file_x], found[pair.file_y]
            if x is not None and y is not None:
                distances[index] = descriptor_distance(x, y)
                no_face[index] = False
        columns[engine.name] = {
            "pairs": len(pairs),
            "same_pairs": int(same.sum()),
            "images": len(found),
            "no_face": sum(1 for d in found.values() if d is None),
            "no_face_pairs": int(no_face.sum()),
            **verification_figures(distances, same, no_face=no_face, threshold=engine.threshold),
            **error_rates(distances, same),
            "ms_median": float(np.median(timings[engine.name])) if timings[engine.name] else None,
        }
    return columns


def error_rates(distances: np.ndarray, same: np.ndarray) -> dict[str, str]:
    """False-accept rate (different-person pairs within the threshold) and false-reject rate (same-person
    pairs beyond it, a missed face included) at each RATE_THRESHOLDS value, as "FAR / FRR" text."""
    different = ~same
    rates = {}
    for threshold in RATE_THRESHOLDS:
        accepted = distances <= threshold
        far = float(accepted[different].mean()) if different.any() else float("nan")
        frr = float((~accepted[same]).mean()) if same.any() else float("nan")
        rates[f"rates_{threshold:.2f}"] = f"{far:.4f} / {frr:.4f}"
    return rates


def render(columns: dict[str, dict[str, Any]]) -> str:
    notes = [NO_FACE_NOTE]
    notes += [
        f"10-fold figures of {name}: n/a, {c['tenfold_reason']}."
        for name, c in columns.items()
        if c.get("tenfold_reason")
    ]
    return table("verification", ROWS, columns) + "\n\n" + "\n".join(notes)
