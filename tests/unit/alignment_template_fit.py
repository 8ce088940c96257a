"""Re-fit the alignment template on real faces and compare our chips with dlib's (script and test helper).

Run `python tests/unit/alignment_template_fit.py [--cnn]` to print freshly fitted constants for
amyplant_faces.pipeline.alignment.TEMPLATE and the descriptor figures. dlib's 5-point shapes need a face
rectangle: by default the detector's own box is used (fast); --cnn uses dlib's CNN detector (slow on this
CPU, several seconds per photo) as face_recognition's "cnn" mode would.
"""

from __future__ import annotations

import argparse
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import dlib
import face_recognition_models
import numpy as np
import tensorflow as tf

from amyplant_faces.pipeline.alignment import TEMPLATE, align_face
from amyplant_modelbuild.builders import detector

EMBED_SIZE, EMBED_PADDING = 150, 0.25
SAME_PERSON = 0.6
FOLDERS = ("enroll", "probe", "photos")


@dataclass(frozen=True)
class Face:
    """One face seen by both pipelines."""

    source: str
    image: np.ndarray
    landmarks: np.ndarray  # ours [5, 2]
    shape: Any  # dlib.full_object_detection


def shared_data_dir() -> Path | None:
    env = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    return path if path.is_dir() else None


def _images(data_dir: Path) -> list[Path]:
    suffixes = {".jpg", ".jpeg", ".png"}
    return sorted(p for f in FOLDERS for p in (data_dir / f).rglob("*") if p.suffix.lower() in suffixes)


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _cnn_rects(image: np.ndarray, cnn: Any) -> list[Any]:
    # Downscale big photos (the CNN is slow on CPU), upsample small ones so 40 px faces are found.
    scale = min(1.0, 1024 / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    upsample = 1 if max(small.shape[:2]) < 700 else 0
    rects = []
    for d in cnn(small, upsample):
        r = d.rect
        rects.append(dlib.rectangle(*(round(v / scale) for v in (r.left(), r.top(), r.right(), r.bottom()))))
    return rects


def collect_faces(data_dir: Path, *, use_cnn: bool = False) -> list[Face]:
    """Faces of enroll/probe/photos with our landmarks and dlib's 5-point shape for the same face."""
    models = face_recognition_models
    predictor = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    cnn = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location()) if use_cnn else None
    serve = detector.build().module.serve
    faces = []
    for path in _images(data_dir):
        image = _read_rgb(path)
        out = serve(tf.constant(image))
        boxes, landmarks = out["boxes"].numpy(), out["landmarks"].numpy()
        if cnn is not None:
            rects = _cnn_rects(image, cnn)
        else:
            rects = [dlib.rectangle(*(round(float(v)) for v in box)) for box in boxes]
        for rect in rects:
            centre = np.array([rect.center().x, rect.center().y], dtype=np.float64)
            # Pair each dlib rectangle with our face whose nose is nearest its centre.
            nose_distance = (
                np.linalg.norm(landmarks[:, 2] - centre, axis=1) if len(landmarks) else np.empty(0)
            )
            if len(nose_distance) == 0 or nose_distance.min() > rect.width() / 2:
                continue
            face = int(np.argmin(nose_distance))
            faces.append(
                Face(
                    str(path.relative_to(data_dir)),
                    image,
                    landmarks[face].astype(np.float64),
                    predictor(image, rect),
                )
            )
    return faces


def to_chip(details: Any, points: np.ndarray) -> np.ndarray:
    """Image points -> chip pixel coordinates of a dlib chip_details (rectangle rotated by its angle;
    the rectangle's corners are the centres of the chip's corner pixels)."""
    rect = details.rect
    centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
    pixel = (rect.right() - rect.left()) / (details.cols - 1)
    cos, sin = np.cos(details.angle), np.sin(details.angle)
    inverse_rotation = np.array([[cos, sin], [-sin, cos]])
    chip = (points - centre) @ inverse_rotation.T / pixel + (details.cols - 1) / 2
    return np.asarray(chip, dtype=np.float64)


def fit_template(faces: list[Face]) -> np.ndarray:
    """Average of our landmarks in dlib's normalised chip frame, over all faces [5, 2]."""
    normalised = []
    for face in faces:
        details = dlib.get_face_chip_details(face.shape, EMBED_SIZE, EMBED_PADDING)
        chip = to_chip(details, face.landmarks)
        normalised.append(chip / (EMBED_SIZE - 1) * (1 + 2 * EMBED_PADDING) - EMBED_PADDING)
    return np.asarray(np.mean(normalised, axis=0), dtype=np.float64)


def compare_descriptors(faces: list[Face], template: np.ndarray | None = None) -> dict[str, Any]:
    """Distance between dlib descriptors of our chips and dlib's chips, and same/different flips."""
    model = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    ours, theirs = [], []
    for face in faces:
        ours_chip = align_face(
            face.image,
            face.landmarks,
            size=EMBED_SIZE,
            padding=EMBED_PADDING,
            template=TEMPLATE if template is None else template,
        )
        dlib_chip = dlib.get_face_chip(face.image, face.shape, size=EMBED_SIZE, padding=EMBED_PADDING)
        ours.append(np.asarray(model.compute_face_descriptor(ours_chip)))
        theirs.append(np.asarray(model.compute_face_descriptor(dlib_chip)))
    distance = [float(np.linalg.norm(a - b)) for a, b in zip(ours, theirs, strict=True)]
    # Identity pairs as the brief of the system uses them: enroll and probe photos only.
    people = [i for i, face in enumerate(faces) if face.source.split("/")[0] in ("enroll", "probe")]
    pairs = list(itertools.combinations(people, 2))
    flips = [
        (faces[i].source, faces[j].source)
        for i, j in pairs
        if (np.linalg.norm(ours[i] - ours[j]) < SAME_PERSON)
        != (np.linalg.norm(theirs[i] - theirs[j]) < SAME_PERSON)
    ]
    return {
        "faces": len(faces),
        "median_distance": float(np.median(distance)),
        "max_distance": float(np.max(distance)),
        "pairs": len(pairs),
        "decision_flips": flips,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cnn", action="store_true", help="use dlib's CNN detector for the rectangles")
    args = parser.parse_args()
    data_dir = shared_data_dir()
    if data_dir is None:
        raise SystemExit("shared data not found (set AMYPLANT_SHARED_DATA)")
    faces = collect_faces(data_dir, use_cnn=args.cnn)
    template = fit_template(faces)
    print(f"fitted on {len(faces)} faces:")
    print("TEMPLATE = (\n" + "".join(f"    ({x:.6f}, {y:.6f}),\n" for x, y in template) + ")")
    print("with the fitted template:", compare_descriptors(faces, template))


if __name__ == "__main__":
    main()
