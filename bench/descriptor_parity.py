"""How close our face descriptors are to face_recognition's for the same faces; one JSON document.

Usage: python bench/descriptor_parity.py [--repo DIR] [--clip-step N] [--json FILE]

Faces: every photo of ../shared/data (enroll/, probe/, photos/, video/*.png), every N-th frame of the
shared clip (default 3; 0 leaves the clip out) and skimage's astronaut photo, with rotated (+-15 degrees)
and scaled (0.6x) copies of the photos. For each face that face_recognition finds (HOG detector,
upsampled once, 5-point landmarks, as `face_recognition.face_encodings` does by default) and our
detector finds too (IoU >= 0.3), the Euclidean distance between its descriptor and ours, for:

- `pipeline`: our FacePipeline as the services run it (dlib's 5 points from the face_landmarks model,
  dlib's chip geometry);
- `onet_template`: the previous chips, our detector's ONet points warped through a fitted template
  (amyplant_faces.pipeline.alignment), for the before/after comparison in one run.

Figures per group (photos and package images; clip frames; all): faces, median, 90th percentile, max.
Faces only one side finds are counted, never dropped silently.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROTATIONS = (-15.0, 15.0)
SCALE = 0.6
MATCH_IOU = 0.3


def shared_data() -> Path | None:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(configured) if configured else ROOT / ".." / "shared" / "data"
    return path if path.is_dir() else None


def _rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _variants(name: str, image: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    yield name, image
    height, width = image.shape[:2]
    for angle in ROTATIONS:
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        yield f"{name}@{angle:+.0f}deg", cv2.warpAffine(image, matrix, (width, height))
    small = cv2.resize(image, (round(width * SCALE), round(height * SCALE)), interpolation=cv2.INTER_AREA)
    yield f"{name}@x{SCALE}", small


def images(data: Path | None, clip_step: int) -> Iterator[tuple[str, str, np.ndarray]]:
    """(group, name, RGB image) for every image the bench measures."""
    from skimage import data as skimage_data

    astronaut = np.asarray(skimage_data.astronaut())  # type: ignore[no-untyped-call]
    yield from (("photos", n, i) for n, i in _variants("skimage-astronaut", astronaut))
    if data is None:
        return
    suffixes = {".jpg", ".jpeg", ".png"}
    for folder in ("enroll", "probe", "photos", "video"):
        for path in sorted(p for p in (data / folder).rglob("*") if p.suffix.lower() in suffixes):
            name = str(path.relative_to(data))
            yield from (("photos", n, i) for n, i in _variants(name, _rgb(path)))
    if clip_step <= 0:
        return
    capture = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
    index = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % clip_step == 0:
            yield "clip", f"clip#{index}", np.ascontiguousarray(bgr[:, :, ::-1])
        index += 1
    capture.release()


def _summary(distances: list[float]) -> dict[str, Any]:
    if not distances:
        return {"faces": 0, "median": None, "p90": None, "max": None}
    values = np.asarray(distances)
    return {
        "faces": len(values),
        "median": round(float(np.median(values)), 4),
        "p90": round(float(np.percentile(values, 90)), 4),
        "max": round(float(values.max()), 4),
    }


def measure(repo: Path, data: Path | None, clip_step: int) -> dict[str, Any]:
    import face_recognition

    from amyplant_faces.detection_metrics import iou_matrix
    from amyplant_faces.models.inprocess import InProcessRuntime
    from amyplant_faces.pipeline.alignment import align_face
    from amyplant_faces.pipeline.faces import EMBEDDER_CHIP_PADDING, EMBEDDER_CHIP_SIZE, FacePipeline

    models = InProcessRuntime(repo)
    pipeline = FacePipeline(models, with_attributes=False)
    distances: dict[str, dict[str, list[float]]] = {"pipeline": {}, "onet_template": {}}
    unmatched = {"face_recognition_only": 0, "ours_only": 0}
    for group, _name, image in images(data, clip_step):
        locations = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
        theirs = face_recognition.face_encodings(image, known_face_locations=locations, model="small")
        ours = pipeline.analyse(image)
        used: set[int] = set()
        for (top, right, bottom, left), reference in zip(locations, theirs, strict=True):
            overlap = iou_matrix(np.asarray([f.box for f in ours]), np.asarray([[left, top, right, bottom]]))[
                :, 0
            ]
            best = int(np.argmax(overlap)) if len(ours) else None
            if best is None or best in used or overlap[best] < MATCH_IOU:
                unmatched["face_recognition_only"] += 1
                continue
            used.add(best)
            face = ours[best]
            old_chip = align_face(
                image, face.landmarks, size=EMBEDDER_CHIP_SIZE, padding=EMBEDDER_CHIP_PADDING
            )
            old = models.embed(old_chip[None])[0]
            for method, descriptor in (("pipeline", face.embedding), ("onet_template", old)):
                gap = float(np.linalg.norm(np.asarray(descriptor, np.float64) - reference))
                distances[method].setdefault(group, []).append(gap)
        unmatched["ours_only"] += len(ours) - len(used)
    return {
        "methods": {
            method: {
                **{group: _summary(values) for group, values in groups.items()},
                "all": _summary([v for values in groups.values() for v in values]),
            }
            for method, groups in distances.items()
        },
        "unmatched": unmatched,
        "clip_step": clip_step,
        "data": "../shared/data" if data else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", type=Path, default=None, help="model repository (default: the tests')")
    parser.add_argument("--clip-step", type=int, default=3, help="every N-th clip frame (0: none)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    repo = args.repo or Path(os.environ.get("AMYPLANT_TEST_MODEL_REPO", ROOT / ".cache" / "test-models"))
    from amyplant_modelbuild.build import build_missing

    build_missing(repo, data_dir=shared_data(), show_progress=False)
    figures = measure(repo, shared_data(), args.clip_step)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
