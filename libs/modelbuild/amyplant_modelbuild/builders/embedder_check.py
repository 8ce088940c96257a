"""Parity of the rebuilt face embedder with dlib's own face descriptor, on real or generated chips."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amyplant_modelbuild.builders import embedder
from amyplant_modelbuild.builders.check_images import images_under, read_rgb

PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
HOG_UPSAMPLE = 1
VIDEO_FILE = Path("video") / "short_hamilton_clip.mp4"
VIDEO_FRAME_STEP = 4  # about 40 faces from the clip's 275 frames, enough to pass 50 chips in all
GENERATED_CHIPS = 16
SERVE_BATCH = 32

Serve = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class DlibChipper:
    """dlib's chip pipeline: HOG face detector, 5-point shape predictor, get_face_chip."""

    def __init__(self, *, size: int = embedder.CHIP_SIZE, padding: float = embedder.CHIP_PADDING) -> None:
        import dlib  # imported here: only checks and tests need dlib

        self._dlib = dlib
        self.size = size
        self.padding = padding
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(embedder.package_dir() / "models" / PREDICTOR_FILE))

    def chips(self, rgb: np.ndarray) -> list[np.ndarray]:
        """One aligned chip per detected face, in the detector's order."""
        faces = self.detector(rgb, HOG_UPSAMPLE)
        shapes = [self.predictor(rgb, face) for face in faces]
        return [
            self._dlib.get_face_chip(rgb, shape, size=self.size, padding=self.padding) for shape in shapes
        ]


def video_frames(path: Path, step: int) -> Iterator[np.ndarray]:
    """Every `step`-th frame of a video, as RGB."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        for index in itertools.count():
            ok, bgr = capture.read()
            if not ok:
                return
            if index % step == 0:
                yield np.ascontiguousarray(bgr[:, :, ::-1])
    finally:
        capture.release()


@dataclass
class ChipSet:
    """Chips with where they came from; the first `paired` chips form the pair set."""

    chips: list[np.ndarray]
    sources: list[str]
    paired: int


def real_chips(data_dir: Path, chipper: DlibChipper) -> ChipSet:
    """All faces of enroll/ and probe/ (these form the pairs), then faces of photos/ and the video clip."""
    found = ChipSet([], [], 0)

    def add(image: np.ndarray, source: str) -> None:
        for chip in chipper.chips(image):
            found.chips.append(chip)
            found.sources.append(source)

    for path in images_under(data_dir / "enroll") + images_under(data_dir / "probe"):
        add(read_rgb(path), str(path.relative_to(data_dir)))
    found.paired = len(found.chips)
    for path in images_under(data_dir / "photos") + images_under(data_dir / "video"):
        add(read_rgb(path), str(path.relative_to(data_dir)))
    if (data_dir / VIDEO_FILE).is_file():
        for number, frame in enumerate(video_frames(data_dir / VIDEO_FILE, VIDEO_FRAME_STEP)):
            add(frame, f"{VIDEO_FILE}#frame{number * VIDEO_FRAME_STEP}")
    return found


def generated_chips(count: int = GENERATED_CHIPS, seed: int = 0, size: int = embedder.CHIP_SIZE) -> ChipSet:
    """Chips without any data: half uniform noise, half smooth colour fields with a face-like blob."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / size
    chips = []
    for index in range(count):
        if index % 2 == 0:
            chips.append(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            continue
        phase, frequency = rng.uniform(0, 2 * np.pi, 3), rng.uniform(0.5, 3.0, 3)
        field = [np.sin(2 * np.pi * frequency[c] * (xs + ys * (c - 1)) + phase[c]) for c in range(3)]
        blob = np.exp(-(((xs - 0.5) / 0.25) ** 2 + ((ys - 0.5) / 0.3) ** 2))
        image = 127.5 + 60.0 * np.stack(field, axis=2) + 60.0 * blob[:, :, None]
        chips.append(np.clip(image, 0, 255).astype(np.uint8))
    return ChipSet(chips, [f"generated#{i}" for i in range(count)], count)


def dlib_descriptors(chips: list[np.ndarray]) -> np.ndarray:
    """dlib's own compute_face_descriptor on each chip (no jitter)."""
    import dlib

    model = dlib.face_recognition_model_v1(str(embedder.weights_path()))
    return np.array([np.array(model.compute_face_descriptor(chip)) for chip in chips], dtype=np.float32)


def served_embeddings(serve: Serve, chips: list[np.ndarray], batch: int = SERVE_BATCH) -> np.ndarray:
    parts = [
        np.asarray(serve({"chips": np.stack(chips[start : start + batch])})["embeddings"], dtype=np.float32)
        for start in range(0, len(chips), batch)
    ]
    return np.concatenate(parts, axis=0)


def pair_distances(embeddings: np.ndarray) -> np.ndarray:
    """Euclidean distance of every unordered pair (i < j), in itertools.combinations order."""
    first, second = np.triu_indices(len(embeddings), k=1)
    return np.asarray(np.linalg.norm(embeddings[first] - embeddings[second], axis=1))


def compare(ours: np.ndarray, reference: np.ndarray, paired: int) -> dict[str, Any]:
    """Element and pair-decision agreement between two descriptor sets for the same chips."""
    ours_d, ref_d = pair_distances(ours[:paired]), pair_distances(reference[:paired])
    same_ours, same_ref = ours_d < embedder.SAME_PERSON_DISTANCE, ref_d < embedder.SAME_PERSON_DISTANCE
    diff = np.abs(ours - reference)
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "pairs": len(ref_d),
        "same_person_pairs": int(same_ref.sum()),
        "decision_agreement": float(np.mean(same_ours == same_ref)) if len(ref_d) else 1.0,
        "decision_mismatches": int(np.sum(same_ours != same_ref)),
        "max_distance_diff": float(np.abs(ours_d - ref_d).max()) if len(ref_d) else 0.0,
        "closest_to_threshold": float(np.abs(ref_d - embedder.SAME_PERSON_DISTANCE).min())
        if len(ref_d)
        else None,
        "descriptor_norms": [
            float(n) for n in np.percentile(np.linalg.norm(reference, axis=1), [0, 50, 100])
        ],
    }


def run(serve: Serve, data_dir: Path | None) -> dict[str, Any]:
    """Feed the same chips to the served model and to dlib; pairs come from enroll/ and probe/ faces."""
    if data_dir is not None and data_dir.is_dir():
        found = real_chips(data_dir, DlibChipper())
        inputs = {
            "kind": "real",
            "detector": f"dlib HOG (upsample {HOG_UPSAMPLE}) + {PREDICTOR_FILE}",
            "chip": {"size": embedder.CHIP_SIZE, "padding": embedder.CHIP_PADDING},
            "pairs_from": "all faces of enroll/ and probe/, every unordered pair",
            "files": sorted({source.split("#")[0] for source in found.sources}),
            "video_frame_step": VIDEO_FRAME_STEP,
        }
    else:
        found = generated_chips()
        inputs = {"kind": "generated", "note": f"no data at {data_dir}: noise and smooth synthetic chips"}
    if not found.chips:
        raise ValueError(f"no face chips found under {data_dir}")
    reference = dlib_descriptors(found.chips)
    ours = served_embeddings(serve, found.chips)
    return {
        "chips": len(found.chips),
        "paired_chips": found.paired,
        **compare(ours, reference, found.paired),
        "inputs": inputs,
    }
