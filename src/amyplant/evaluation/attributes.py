"""`amyplant eval attributes`: age error and gender accuracy of the largest face in labelled images."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from amyplant.evaluation.engines import EngineFace, FaceEngine, largest_face, load_image
from amyplant.evaluation.formats import AttributeLabel
from amyplant.evaluation.metrics import mean_absolute_error
from amyplant.evaluation.report import Row, table

ROWS = (
    Row("images", "images", "count"),
    Row("images with no face", "no_face", "count"),
    Row("ages compared", "ages", "count"),
    Row("age MAE (years)", "age_mae", "number"),
    Row("genders compared", "genders", "count"),
    Row("gender accuracy", "gender_accuracy"),
    Row("median ms / image", "ms_median", "ms"),
)


def attribute_figures(labels: Sequence[AttributeLabel], faces: Sequence[EngineFace | None]) -> dict[str, Any]:
    """Age MAE and gender accuracy over the images where a face was found (the rest are `no_face`)."""
    aged = [
        (label.age, face.age)
        for label, face in zip(labels, faces, strict=True)
        if face is not None and label.age is not None and face.age is not None
    ]
    gendered = [
        (label.gender, face.gender)
        for label, face in zip(labels, faces, strict=True)
        if face is not None and label.gender is not None and face.gender is not None
    ]
    return {
        "images": len(labels),
        "no_face": sum(1 for face in faces if face is None),
        "ages": len(aged),
        "age_mae": mean_absolute_error([p for _, p in aged], [t for t, _ in aged]) if aged else None,
        "genders": len(gendered),
        "gender_accuracy": sum(t == p for t, p in gendered) / len(gendered) if gendered else None,
    }


def evaluate_attributes(
    engines: Sequence[FaceEngine], labels: Sequence[AttributeLabel], labels_path: Path
) -> dict[str, dict[str, Any]]:
    found: dict[str, list[EngineFace | None]] = {engine.name: [] for engine in engines}
    timings: dict[str, list[float]] = {engine.name: [] for engine in engines}
    for label in labels:
        image = load_image(label.file, labels_path, label.line)
        for engine in engines:
            started = time.perf_counter()
            found[engine.name].append(largest_face(engine.faces(image)))
            timings[engine.name].append((time.perf_counter() - started) * 1000.0)
    return {
        engine.name: {
            **attribute_figures(labels, found[engine.name]),
            "ms_median": float(np.median(timings[engine.name])) if timings[engine.name] else None,
        }
        for engine in engines
    }


def render(columns: dict[str, dict[str, Any]]) -> str:
    return table("attributes", ROWS, columns)
