"""Re-fit where dlib's shape predictor starts from our detections (script): prints the constants.

Run `python tests/unit/landmark_start_fit.py [--repo DIR] [--clip-step N]` to print freshly fitted
constants for amyplant_faces.pipeline.landmarks (BOX_* and POINTS_*) and how far the predictor's points
from those starts land from its points from dlib's HOG boxes (as face_recognition starts it), in units
of the eye span. Faces: the photos of ../shared/data and every N-th frame of its clip that both dlib's
HOG detector and ours find (IoU >= 0.3).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from amyplant_faces.detection_metrics import iou_matrix
from amyplant_faces.models.client import Detection
from amyplant_faces.models.inprocess import InProcessRuntime
from amyplant_faces.pipeline import landmarks

ROOT = Path(__file__).resolve().parents[2]
MATCH_IOU = 0.3


@dataclass(frozen=True)
class Face:
    """One face both detectors found."""

    image: np.ndarray
    ours: Detection
    hog: np.ndarray  # left, top, right, bottom (dlib convention)


def _images(data: Path, clip_step: int) -> list[np.ndarray]:
    suffixes = {".jpg", ".jpeg", ".png"}
    paths = sorted(p for f in ("enroll", "probe", "photos", "video") for p in (data / f).rglob("*"))
    found = [np.asarray(cv2.imread(str(p)))[:, :, ::-1].copy() for p in paths if p.suffix.lower() in suffixes]
    capture = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
    index = 0
    while clip_step > 0:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % clip_step == 0:
            found.append(bgr[:, :, ::-1].copy())
        index += 1
    capture.release()
    return found


def collect(models: InProcessRuntime, data: Path, clip_step: int) -> list[Face]:
    import dlib

    hog = dlib.get_frontal_face_detector()
    faces = []
    for image in _images(data, clip_step):
        ours = models.detect(image)
        for rect in hog(image, 1):
            box = [rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1]
            overlap = iou_matrix(np.asarray([d.box for d in ours]), np.asarray([box]))[:, 0]
            best = ours[int(np.argmax(overlap))] if ours else None
            if best is not None and overlap.max() >= MATCH_IOU:
                corners = np.asarray([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float64)
                faces.append(Face(image, best, corners))
    return faces


def fit(centres: np.ndarray, sizes: np.ndarray, hog: np.ndarray) -> tuple[float, float, float]:
    """Least-squares offset (x, y) and side scale taking (centre, size) to the HOG squares."""
    hog_centre, hog_side = (hog[:, :2] + hog[:, 2:]) / 2.0, hog[:, 2] - hog[:, 0]
    weight = float((sizes * sizes).sum())
    offset = ((hog_centre - centres) * sizes[:, None]).sum(axis=0) / weight
    return float(offset[0]), float(offset[1]), float((hog_side * sizes).sum() / weight)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", type=Path, default=ROOT / ".cache" / "test-models")
    parser.add_argument("--clip-step", type=int, default=3)
    args = parser.parse_args()
    data = Path(os.environ.get("AMYPLANT_SHARED_DATA", ROOT / ".." / "shared" / "data"))
    models = InProcessRuntime(args.repo)
    faces = collect(models, data, args.clip_step)
    boxes = np.asarray([f.ours.box for f in faces], np.float64)
    points = np.asarray([f.ours.landmarks for f in faces], np.float64)
    hog = np.asarray([f.hog for f in faces])
    box_size = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2.0
    points_centre = points.mean(axis=1)
    points_size = np.sqrt(((points - points_centre[:, None]) ** 2).sum(axis=2).mean(axis=1))
    box_fit = fit((boxes[:, :2] + boxes[:, 2:]) / 2.0, box_size, hog)
    points_fit = fit(points_centre, points_size, hog)
    print(f"{len(faces)} faces")
    print(f"BOX_CENTRE_OFFSET = ({box_fit[0]:.6f}, {box_fit[1]:.6f})\nBOX_SIDE_SCALE = {box_fit[2]:.6f}")
    print(f"POINTS_CENTRE_OFFSET = ({points_fit[0]:.6f}, {points_fit[1]:.6f})")
    print(f"POINTS_SIDE_SCALE = {points_fit[2]:.6f}")
    errors = []
    for face in faces:
        reference = models.landmarks(face.image, face.hog[None])[0]
        ours = landmarks.dlib_points(models, face.image, [face.ours])[0]
        span = float(np.linalg.norm(reference[0] - reference[2]))
        errors.append(float(np.linalg.norm(ours - reference, axis=1).max()) / span)
    print(
        f"points from the constants in force vs from HOG boxes, / eye span: median {np.median(errors):.4f}, "
        f"90th percentile {np.percentile(errors, 90):.4f}, max {max(errors):.4f}"
    )


if __name__ == "__main__":
    main()
