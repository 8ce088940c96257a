"""Boxes for bench/trainer_quality.py: dlib's CNN annotator, and served pre-annotation corrected by it.

dlib's CNN (MMOD) detector from face-recognition-models is the reference annotator: it never takes part
in the comparison. Its boxes are cached in `dlib_boxes.json` beside the split folders (with the settings
that made them), since it takes seconds per frame on a CPU; a frame keeps its name whatever split it
falls in, so runs with other split seeds reuse them. "Corrected" annotations are what a person does
in LabelMe with the served detector's pre-annotation: each pre-annotated face takes the reference box
it overlaps (its landmarks kept), false detections are deleted, and missed faces are drawn (they have no
landmarks).
"""

from __future__ import annotations

import fcntl
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

MATCH_IOU = 0.3


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def dlib_boxes(folder: Path, upsample: int) -> tuple[dict[str, list[list[float]]], dict[str, Any]]:
    """Reference boxes (x1, y1, x2, y2 pixels) of every image in the folder, by image name."""
    import dlib
    import face_recognition_models

    from amyplant_trainer.datasets import list_images

    settings = {
        "annotator": "dlib.cnn_face_detection_model_v1 (mmod_human_face_detector.dat)",
        "upsample": upsample,
        "dlib": dlib.__version__,
    }
    cache_path = folder.parent / "dlib_boxes.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    boxes: dict[str, list[list[float]]] = cache.get("boxes", {}) if cache.get("settings") == settings else {}
    images = list_images(folder)
    missing = [path for path in images if path.name not in boxes]
    started = time.perf_counter()
    if missing:
        detector = dlib.cnn_face_detection_model_v1(
            face_recognition_models.cnn_face_detector_model_location()
        )
        for path in missing:
            rgb = _read_rgb(path)
            height, width = rgb.shape[:2]
            found = []
            for detection in detector(rgb, upsample):
                rect = detection.rect  # inclusive, and may reach past the border
                x1, y1 = max(0, rect.left()), max(0, rect.top())
                x2, y2 = min(width, rect.right() + 1), min(height, rect.bottom() + 1)
                if x2 - x1 >= 2 and y2 - y1 >= 2:
                    found.append([float(x1), float(y1), float(x2), float(y2)])
            boxes[path.name] = found
        _save_cache(cache_path, settings, boxes)
    wanted = {path.name for path in images}
    mine = {name: value for name, value in boxes.items() if name in wanted}
    return mine, {**settings, "seconds": round(time.perf_counter() - started, 1)}


def _save_cache(cache_path: Path, settings: dict[str, Any], boxes: dict[str, list[list[float]]]) -> None:
    """Merged with what another run (labelling other frames at the same time) saved meanwhile."""
    with open(cache_path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = json.loads(cache_path.read_text()) if cache_path.exists() else {}
        merged = {**(saved.get("boxes", {}) if saved.get("settings") == settings else {}), **boxes}
        cache_path.write_text(json.dumps({"settings": settings, "boxes": merged}))


def write_reference(folder: Path, upsample: int) -> dict[str, Any]:
    """LabelMe JSON of the reference boxes for every image (what the test split is scored against)."""
    from amyplant_trainer.datasets import list_images
    from amyplant_trainer.labelme import Annotation, FaceBox, write_annotation

    boxes, settings = dlib_boxes(folder, upsample)
    for path in list_images(folder):
        height, width = _read_rgb(path).shape[:2]
        faces = [FaceBox(*box) for box in boxes[path.name]]
        write_annotation(Annotation(image_path=path, width=width, height=height, faces=faces))
    return settings


def write_corrected(folder: Path, runtime: Any, upsample: int) -> dict[str, Any]:
    """The served detector's pre-annotation with every box corrected to the reference annotator's."""
    from amyplant_faces.detection_metrics import iou_matrix
    from amyplant_trainer.datasets import list_images, pre_annotate
    from amyplant_trainer.labelme import (
        Annotation,
        FaceBox,
        annotation_path,
        read_annotation,
        write_annotation,
    )

    reference, settings = dlib_boxes(folder, upsample)
    pre_annotate(folder, runtime, overwrite=True)
    kept = added = dropped = 0
    for path in list_images(folder):
        pre_annotated = read_annotation(annotation_path(path))
        served = pre_annotated.faces
        truth = np.asarray(reference[path.name], dtype=np.float32).reshape(-1, 4)
        proposed = pre_annotated.box_array()
        overlap = iou_matrix(truth, proposed) if len(truth) and len(proposed) else np.zeros((len(truth), 0))
        faces, used = [], set()
        for row, box in enumerate(truth):
            column = int(np.argmax(overlap[row])) if overlap.shape[1] else -1
            if column >= 0 and overlap[row, column] >= MATCH_IOU and column not in used:
                used.add(column)
                faces.append(FaceBox(*map(float, box), landmarks=served[column].landmarks))
                kept += 1
            else:
                faces.append(FaceBox(*map(float, box)))
                added += 1
        dropped += len(served) - len(used)
        write_annotation(
            Annotation(image_path=path, width=pre_annotated.width, height=pre_annotated.height, faces=faces)
        )
    return {**settings, "boxes_corrected": kept, "faces_drawn": added, "detections_deleted": dropped}


def draw_boxes(annotations: list[Any], target: Path, every: int) -> list[str]:
    """PNGs of every `every`-th frame with its annotated boxes, to check the annotator by eye."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for annotation in annotations[::every]:
        image = cv2.imread(str(annotation.image_path), cv2.IMREAD_COLOR)
        for face in annotation.faces:
            cv2.rectangle(image, (int(face.x1), int(face.y1)), (int(face.x2), int(face.y2)), (0, 255, 0), 2)
        path = target / f"{annotation.image_path.stem}.png"
        cv2.imwrite(str(path), image)
        written.append(str(path))
    return written
