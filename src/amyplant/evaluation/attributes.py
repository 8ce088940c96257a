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
    Row("ages labelled", "ages_labelled", "count"),
    Row("ages compared (face found)", "ages", "count"),
    Row("age MAE (years), faces found", "age_mae", "number"),
    Row("genders labelled", "genders_labelled", "count"),
    Row("gender accuracy (no face: error)", "gender_accuracy"),
    Row("genders compared (face found)", "genders", "count"),
    Row("gender accuracy, faces found", "gender_accuracy_found"),
    Row("median ms / image", "ms_median", "ms"),
)
NO_FACE_NOTE = (
    "An image where no face was found is a gender error in the gender accuracy over every labelled image.\n"
    "It has no age to compare: the age MAE covers the faces found only (ages compared, of ages labelled)."
)


def attribute_figures(
    labels: Sequence[AttributeLabel], faces: Sequence[EngineFace | None], *, estimates: bool = True
) -> dict[str, Any]:
    """Age MAE over the images where a face was found and estimated; gender accuracy over every image
    with a labelled gender, an image without a face (or without an estimate) counting as an error, and
    again over the faces found. `estimates`: whether the system estimates age and gender at all (one
    that does not has no figures rather than every image wrong)."""
    pairs = list(zip(labels, faces, strict=True))
    aged = [
        (label.age, face.age)
        for label, face in pairs
        if face is not None and label.age is not None and face.age is not None
    ]
    gendered = [
        (label.gender, face.gender)
        for label, face in pairs
        if face is not None and label.gender is not None and face.gender is not None
    ]
    genders_labelled = sum(1 for label in labels if label.gender is not None)
    genders_right = sum(t == p for t, p in gendered)
    return {
        "images": len(labels),
        "no_face": sum(1 for face in faces if face is None),
        "ages_labelled": sum(1 for label in labels if label.age is not None),
        "ages": len(aged),
        "age_mae": mean_absolute_error([p for _, p in aged], [t for t, _ in aged]) if aged else None,
        "genders_labelled": genders_labelled,
        "gender_accuracy": genders_right / genders_labelled if estimates and genders_labelled else None,
        "genders": len(gendered),
        "gender_accuracy_found": genders_right / len(gendered) if gendered else None,
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
            **attribute_figures(labels, found[engine.name], estimates=engine.has_attributes),
            "ms_median": float(np.median(timings[engine.name])) if timings[engine.name] else None,
        }
        for engine in engines
    }


def render(columns: dict[str, dict[str, Any]]) -> str:
    return table("attributes", ROWS, columns) + "\n\n" + NO_FACE_NOTE
