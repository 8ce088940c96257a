"""Faces of an uploaded image, tagged with the embedder version that made their descriptors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amyplant_faces.models.client import EMBEDDER, ModelClient, ModelServerError
from amyplant_faces.pipeline.faces import FaceObservation, FacePipeline
from amyplant_store.errors import GalleryError

# A choice by box picks the face that overlaps it most, if it overlaps at least this much (IoU).
MIN_CHOICE_IOU = 0.3


@dataclass(frozen=True)
class Analysis:
    """Every face of one image (largest first) and the embedder version of their descriptors."""

    faces: list[FaceObservation]
    model_version: int


def embedder_version(models: ModelClient) -> int:
    """The embedder version that unversioned requests reach now, or a 503 GalleryError."""
    try:
        status = models.status()
    except ModelServerError as error:
        raise GalleryError(
            "models_unavailable", f"the face models cannot be reached: {error}", status=503
        ) from error
    model = status.model(EMBEDDER)
    version = model.serving_version if model else None
    if version is None:
        raise GalleryError(
            "models_unavailable",
            "the face embedder has no servable version (run `amyplant models build`)",
            status=503,
        )
    return version


def analyse(pipeline: FacePipeline, rgb: np.ndarray) -> Analysis:
    """Run the pipeline; the embedder version is read before and after, and a switch in between redoes it.

    The pipeline asks for the newest version of each model, so a new embedder version published while
    the image is analysed could otherwise tag descriptors with the wrong version.
    """
    for _ in range(2):
        before = embedder_version(pipeline.models)
        try:
            faces = pipeline.analyse(rgb)
        except ModelServerError as error:
            raise GalleryError(
                "models_unavailable", f"the face models failed: {error}", status=503
            ) from error
        if embedder_version(pipeline.models) == before:
            return Analysis(faces=faces, model_version=before)
    raise GalleryError("models_changing", "the face embedder is being replaced; try again", status=503)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def choose_face(
    faces: list[FaceObservation],
    *,
    index: int | None,
    box: tuple[float, float, float, float] | None,
    filename: str,
) -> FaceObservation:
    """The face a caller chose by index (largest first) or by box; the only face when there is one."""
    if not faces:
        raise GalleryError("no_face", f"no face was found in {filename}", status=422)
    if index is not None:
        if not 0 <= index < len(faces):
            raise GalleryError(
                "face_index_out_of_range",
                f"{filename} has {len(faces)} face(s); face_index {index} is not one",
                status=422,
                faces=[_box_json(f) for f in faces],
            )
        return faces[index]
    if box is not None:
        overlaps = [box_iou(face.box, box) for face in faces]
        best = int(np.argmax(overlaps))
        if overlaps[best] < MIN_CHOICE_IOU:
            raise GalleryError(
                "chosen_face_not_found",
                f"no face of {filename} overlaps the given box",
                status=422,
                faces=[_box_json(f) for f in faces],
            )
        return faces[best]
    if len(faces) > 1:
        raise GalleryError(
            "several_faces",
            f"{filename} shows {len(faces)} faces; choose one with face_index (largest first) or face_box",
            status=422,
            faces=[_box_json(f) for f in faces],
        )
    return faces[0]


def _box_json(face: FaceObservation) -> list[float]:
    return [round(float(v), 1) for v in face.box]
