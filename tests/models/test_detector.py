"""The face detector rebuilt from BlazeFace's .tflite plus ONet, saved and reloaded, against the package."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from amyplant_modelbuild.builders import detector
from amyplant_modelbuild.builders.check_images import images_under, read_rgb
from amyplant_modelbuild.builders.detector_check import PackageDetector, match
from amyplant_modelbuild.builders.tflite_reader import TfliteNetwork, read_tflite
from tests.models.saved import Serve, save_and_load, signature_caller

NETWORK_TOLERANCE = 1e-3  # raw regressor/logit units; float16 weights widened the same way on both sides
BOX_TOLERANCE = 1.5  # pixels; the package rounds the letterbox offset, we keep it exact (<= 0.5 px)
SCORE_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def built() -> Any:
    return detector.build()


@pytest.fixture(scope="module")
def loaded(built: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The SavedModel written the way the model repository writes it, loaded back from disk."""
    return save_and_load(built, tmp_path_factory.mktemp("face_detector"))


@pytest.fixture(scope="module")
def serve(loaded: Any) -> Serve:
    return signature_caller(loaded)


@pytest.fixture(scope="module")
def package() -> PackageDetector:
    return PackageDetector()


def assert_consistent(outputs: dict[str, np.ndarray]) -> int:
    count = len(outputs["boxes"])
    assert outputs["boxes"].shape == (count, 4) and outputs["boxes"].dtype == np.float32
    assert outputs["scores"].shape == (count,) and outputs["landmarks"].shape == (count, 5, 2)
    assert np.all(np.isfinite(outputs["boxes"])) and np.all(np.isfinite(outputs["landmarks"]))
    return count


def test_built_model_describes_itself(built: Any) -> None:
    assert built.name == "face_detector"
    assert [s.file for s in built.sources] == [detector.BLAZEFACE_FILE, detector.ONET_FILE]
    assert all(len(s.sha256) == 64 for s in built.sources)
    assert built.signature["inputs"]["image"]["shape"] == [None, None, 3]
    assert set(built.signature["outputs"]) >= {"boxes", "scores", "landmarks"}


def test_saved_signature_is_the_contract(loaded: Any) -> None:
    function = loaded.signatures["serving_default"]
    [spec] = function.structured_input_signature[1].values()
    assert spec.name == "image" and spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, 3]
    outputs = function.structured_outputs
    assert outputs["boxes"].shape.as_list() == [None, 4]
    assert outputs["landmarks"].shape.as_list() == [None, 5, 2]
    assert outputs["scores"].dtype == tf.float32


def test_rebuilt_network_matches_the_tflite_interpreter() -> None:
    path = detector.blazeface_path()
    network = TfliteNetwork(read_tflite(path))
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    rng = np.random.default_rng(1)
    smooth = np.cumsum(rng.normal(0, 0.05, (1, 192, 192, 3)), axis=2)
    image = np.clip(smooth, -1, 1).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    ours = network(tf.constant(image))
    for output in interpreter.get_output_details():
        expected = interpreter.get_tensor(output["index"])
        assert np.abs(ours[output["name"]].numpy() - expected).max() < NETWORK_TOLERANCE


def test_rebuilt_onet_matches_the_mtcnn_package() -> None:
    from mtcnn.network.onet import ONet

    weights = detector.load_onet_weights(detector.onet_weights_path())
    reference = ONet()
    reference.build()
    reference.set_weights(weights)
    crops = np.random.default_rng(2).uniform(-1, 1, (5, 48, 48, 3)).astype(np.float32)
    offsets, points, probabilities = reference(crops)
    ours = detector.OnetNetwork(weights)(tf.constant(crops))
    for theirs, mine in zip((offsets, points, probabilities[:, 1]), ours, strict=True):
        assert np.abs(np.asarray(theirs) - mine.numpy()).max() < 1e-5


def test_matches_the_package_on_real_photos(
    serve: Serve, package: PackageDetector, shared_data: Path
) -> None:
    for path in images_under(shared_data / "probe") + images_under(shared_data / "photos"):
        image = read_rgb(path)
        ours = serve({"image": image})
        boxes, _ = package(image)
        pairs = match(ours["boxes"], boxes)
        assert len(pairs) == len(boxes) == len(ours["boxes"]), path.name
        for i, j in pairs:
            assert np.abs(ours["boxes"][i] - boxes[j]).max() < BOX_TOLERANCE, path.name


def test_every_probe_face_is_found_with_ordered_landmarks(serve: Serve, shared_data: Path) -> None:
    with (shared_data / "probe" / "labels.csv").open(newline="") as handle:
        labelled = {row["file"]: len(row["identities"].split(";")) for row in csv.DictReader(handle)}
    assert labelled
    for name, count in labelled.items():
        outputs = serve({"image": read_rgb(shared_data / "probe" / name)})
        assert assert_consistent(outputs) >= count, name
        for box, points in zip(outputs["boxes"], outputs["landmarks"], strict=True):
            left_eye, right_eye, nose, left_mouth, right_mouth = points
            assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0], name
            assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1]), name
            margin = 0.25 * (box[2] - box[0])
            assert np.all(points >= box[:2] - margin) and np.all(points <= box[2:] + margin), name


@pytest.mark.parametrize("kind", ["black", "grey", "white", "noise"])
def test_no_face_on_blank_or_noise(serve: Serve, kind: str) -> None:
    rng = np.random.default_rng(7)
    images = {
        "black": np.zeros((480, 640, 3), np.uint8),
        "grey": np.full((480, 640, 3), 128, np.uint8),
        "white": np.full((480, 640, 3), 255, np.uint8),
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
    }
    assert assert_consistent(serve({"image": images[kind]})) == 0


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (17, 9), (191, 193), (640, 360), (1080, 1920)])
def test_any_image_size_is_accepted(serve: Serve, shape: tuple[int, int]) -> None:
    image = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert_consistent(serve({"image": image}))


def test_a_face_is_found_in_portrait_and_small_crops(serve: Serve, shared_data: Path) -> None:
    photo = read_rgb(shared_data / "photos" / "obama-720p.jpg")
    [reference] = serve({"image": photo})["boxes"]
    centre_x = int((reference[0] + reference[2]) / 2)
    left = max(0, centre_x - 200)
    portrait = np.ascontiguousarray(photo[:, left : left + 400])  # 720 x 400: taller than wide
    [box] = serve({"image": portrait})["boxes"]
    assert np.abs(box - (reference - [left, 0, left, 0])).max() < 4.0
    small = np.ascontiguousarray(portrait[::4, ::4])  # 180 x 100, the face about 40 px wide
    [small_box] = serve({"image": small})["boxes"]
    assert np.abs(small_box * 4 - (reference - [left, 0, left, 0])).max() < 12.0


def test_check_without_data_runs_on_generated_images(serve: Serve, tmp_path: Path) -> None:
    figures = detector.check(serve, tmp_path / "absent")
    assert figures["inputs"]["kind"] == "generated"
    assert figures["faces_on_generated_images"] == 0 and figures["faces_only_in_package"] == 0
    assert figures["max_abs_diff"] == 0.0 and figures["ms_per_640x480_frame"] > 0
