"""`amyplant eval verify`: same-person / different-person decisions on listed pairs of images."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amyplant.evaluation.engines import FaceEngine, descriptor_distance, largest_face, load_image
from amyplant.evaluation.formats import Pair
from amyplant.evaluation.metrics import best_threshold, correct_at, roc_auc, tar_at_far
from amyplant.evaluation.report import Row, table

FAR_LEVELS = {"tar_at_far_1e-2": 1e-2, "tar_at_far_1e-3": 1e-3}
ROWS = (
    Row("pairs", "pairs", "count"),
    Row("same-person pairs", "same_pairs", "count"),
    Row("images with no face", "no_face", "count"),
    Row("pairs with no face (errors)", "no_face_pairs", "count"),
    Row("threshold", "threshold", "number"),
    Row("accuracy @ threshold", "accuracy"),
    Row("best threshold", "best_threshold", "number"),
    Row("accuracy @ best threshold", "best_accuracy"),
    Row("ROC AUC", "auc"),
    Row("TAR @ FAR 1e-2", "tar_at_far_1e-2"),
    Row("TAR @ FAR 1e-3", "tar_at_far_1e-3"),
    Row("largest same-person distance", "same_distance_max", "number"),
    Row("smallest different-person distance", "different_distance_min", "number"),
    Row("median ms / image", "ms_median", "ms"),
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
    distances: np.ndarray, same: np.ndarray, *, total_pairs: int, threshold: float
) -> dict[str, Any]:
    """Figures over the pairs where both faces were found; pairs without a face count as errors in the
    accuracies (they are among `total_pairs` but never decided right)."""
    best = best_threshold(distances, same) if len(distances) else None
    figures: dict[str, Any] = {
        "threshold": threshold,
        "accuracy": correct_at(distances, same, threshold) / total_pairs,
        "best_threshold": best,
        "best_accuracy": correct_at(distances, same, best) / total_pairs if best is not None else None,
        "auc": roc_auc(-distances, same),
    }
    for key, far in FAR_LEVELS.items():
        figures[key] = tar_at_far(distances, same, far)
    # The margin around the threshold, telling apart two systems that both decide every pair right.
    figures["same_distance_max"] = float(distances[same].max()) if same.any() else None
    figures["different_distance_min"] = float(distances[~same].min()) if (~same).any() else None
    return figures


def evaluate_verification(
    engines: Sequence[FaceEngine], pairs: Sequence[Pair], pairs_path: Path
) -> dict[str, dict[str, Any]]:
    descriptors, timings = _descriptors(engines, pairs, pairs_path)
    columns: dict[str, dict[str, Any]] = {}
    for engine in engines:
        found = descriptors[engine.name]
        decided = [p for p in pairs if found[p.file_x] is not None and found[p.file_y] is not None]
        distances = np.asarray(
            [descriptor_distance(found[p.file_x], found[p.file_y]) for p in decided],  # type: ignore[arg-type]
            dtype=np.float64,
        )
        same = np.asarray([p.same for p in decided], dtype=bool)
        columns[engine.name] = {
            "pairs": len(pairs),
            "same_pairs": sum(p.same for p in pairs),
            "images": len(found),
            "no_face": sum(1 for d in found.values() if d is None),
            "no_face_pairs": len(pairs) - len(decided),
            **verification_figures(distances, same, total_pairs=len(pairs), threshold=engine.threshold),
            "ms_median": float(np.median(timings[engine.name])) if timings[engine.name] else None,
        }
    return columns


def render(columns: dict[str, dict[str, Any]]) -> str:
    return table("verification", ROWS, columns)
