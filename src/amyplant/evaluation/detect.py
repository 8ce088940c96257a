"""`amyplant eval detect`: recall, precision, AP and speed of face detection against annotated boxes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amyplant.evaluation.box_formats import DetectionDataset
from amyplant.evaluation.engines import FaceEngine, load_image
from amyplant.evaluation.report import Row, table
from amyplant_faces.detection_metrics import ImageMatch, average_precision_of, count_detections, match_image

ROWS = (
    Row("images", "images", "count"),
    Row("faces", "faces", "count"),
    Row("detections", "detections", "count"),
    Row("recall @ IoU 0.5", "recall_50"),
    Row("precision @ IoU 0.5", "precision_50"),
    Row("recall @ IoU 0.3", "recall_30"),
    Row("precision @ IoU 0.3", "precision_30"),
    Row("AP @ IoU 0.5", "ap_50"),
    Row("median ms / image", "ms_median", "ms"),
)
TOTAL = "total"


@dataclass
class _Tally:
    """One engine's matches and timings over one dataset."""

    strict: list[ImageMatch] = field(default_factory=list)
    loose: list[ImageMatch] = field(default_factory=list)
    timings_ms: list[float] = field(default_factory=list)

    def extend(self, other: _Tally) -> None:
        self.strict += other.strict
        self.loose += other.loose
        self.timings_ms += other.timings_ms

    def figures(self) -> dict[str, Any]:
        strict, loose = count_detections(self.strict), count_detections(self.loose)
        return {
            "images": len(self.strict),
            "faces": strict.faces,
            "detections": sum(len(m.true_positive) for m in self.strict),
            "recall_50": strict.recall,
            "precision_50": strict.precision,
            "recall_30": loose.recall,
            "precision_30": loose.precision,
            "ap_50": average_precision_of(self.strict),
            "ms_median": float(np.median(self.timings_ms)) if self.timings_ms else None,
        }


def unique_names(datasets: Sequence[DetectionDataset]) -> list[str]:
    """Dataset names, numbered where two are alike, so each has its own entry in the report."""
    names: list[str] = []
    for dataset in datasets:
        name, number = dataset.name, 2
        while name in names or name == TOTAL:
            name, number = f"{dataset.name}#{number}", number + 1
        names.append(name)
    return names


def evaluate_detection(
    engines: Sequence[FaceEngine], datasets: Sequence[DetectionDataset]
) -> dict[str, dict[str, Any]]:
    """Per engine: total figures plus `datasets` holding each dataset's figures. Each image is decoded
    once and given to every engine, so the systems see exactly the same pixels."""
    names = unique_names(datasets)
    tallies = {engine.name: {name: _Tally() for name in names} for engine in engines}
    for name, dataset in zip(names, datasets, strict=True):
        for entry in dataset.images:
            image = load_image(entry.path, entry.source, entry.line)
            for engine in engines:
                started = time.perf_counter()
                boxes, scores = engine.detect(image)
                tally = tallies[engine.name][name]
                tally.timings_ms.append((time.perf_counter() - started) * 1000.0)
                tally.strict.append(match_image(boxes, scores, entry.boxes, entry.ignore, iou_threshold=0.5))
                tally.loose.append(match_image(boxes, scores, entry.boxes, entry.ignore, iou_threshold=0.3))
    columns: dict[str, dict[str, Any]] = {}
    for engine in engines:
        total = _Tally()
        for tally in tallies[engine.name].values():
            total.extend(tally)
        columns[engine.name] = {
            **total.figures(),
            "datasets": {name: tally.figures() for name, tally in tallies[engine.name].items()},
        }
    return columns


def render(columns: dict[str, dict[str, Any]]) -> str:
    """One table per dataset, and a total table when there are several."""
    engines = list(columns)
    datasets = list(columns[engines[0]]["datasets"])
    parts = [
        table(name, ROWS, {engine: columns[engine]["datasets"][name] for engine in engines})
        for name in datasets
    ]
    if len(datasets) > 1:
        parts.append(table(TOTAL, ROWS, columns))
    return "\n\n".join(parts)
