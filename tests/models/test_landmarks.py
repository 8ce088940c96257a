"""face_landmarks: dlib's 5-point shape predictor read from its file, saved as a graph, against dlib."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from amyplant_modelbuild.builders import landmarks
from amyplant_modelbuild.builders.dlib_format import DlibFormatError
from amyplant_modelbuild.builders.shape_predictor_format import read_shape_predictor
from tests.models.saved import Serve, save_and_load, signature_caller

dlib = pytest.importorskip("dlib", reason="dlib (dlib-bin) is the reference for the landmarks")


@pytest.fixture(scope="module")
def built() -> Any:
    return landmarks.build()


@pytest.fixture(scope="module")
def serve(built: Any, tmp_path_factory: pytest.TempPathFactory) -> Serve:
    """The SavedModel written the way the model repository writes it, loaded back from disk."""
    return signature_caller(save_and_load(built, tmp_path_factory.mktemp("face_landmarks")))


@pytest.fixture(scope="module")
def dlib_predictor() -> Any:
    return dlib.shape_predictor(str(landmarks.predictor_path()))


def _dlib_points(predictor: Any, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    shapes = [predictor(image, dlib.rectangle(*(int(v) for v in box))) for box in boxes]
    return np.asarray([[(p.x, p.y) for p in shape.parts()] for shape in shapes], dtype=np.float32)


def test_the_file_is_read_to_its_last_byte() -> None:
    predictor = read_shape_predictor(landmarks.predictor_path())
    assert (predictor.levels, predictor.trees, predictor.depth) == (15, 500, 4)
    assert (predictor.landmarks, predictor.feature_pixels) == (5, 800)
    assert predictor.leaf_increments.shape == (15, 500, 16, 5, 2)
    # The mean shape lies inside the unit box the predictor starts from.
    assert ((predictor.mean_shape > 0) & (predictor.mean_shape < 1)).all()


def test_a_truncated_or_padded_file_is_refused(tmp_path: Path) -> None:
    data = landmarks.predictor_path().read_bytes()
    truncated, padded = tmp_path / "truncated.dat", tmp_path / "padded.dat"
    truncated.write_bytes(data[: len(data) // 2])
    padded.write_bytes(data + b"\x01\x00")
    with pytest.raises(DlibFormatError, match="truncated"):
        read_shape_predictor(truncated)
    with pytest.raises(DlibFormatError, match="bytes left"):
        read_shape_predictor(padded)


def test_saved_graph_matches_dlib_on_every_shared_face(serve: Serve, shared_data: Path) -> None:
    figures = landmarks.check(serve, shared_data)
    print(json.dumps(figures))
    assert figures["data"].startswith("shared photos")
    # Every HOG face of the photos and three shifted copies of each (some reach outside the image).
    assert figures["faces"] >= 80
    assert figures["max_abs_diff"] == 0.0, figures


def test_saved_graph_matches_dlib_on_noise_and_odd_rectangles(serve: Serve, dlib_predictor: Any) -> None:
    generator = np.random.default_rng(11)
    image = generator.integers(0, 256, (180, 260, 3), dtype=np.uint8)
    boxes = np.asarray(
        [[20, 15, 120, 115], [-40, -30, 50, 60], [200, 120, 320, 240], [100, 40, 104, 44], [0, 0, 259, 179]],
        dtype=np.float32,
    )
    ours = serve({"image": image, "boxes": boxes})
    np.testing.assert_array_equal(ours["landmarks"], _dlib_points(dlib_predictor, image, boxes))
    # The rounded points are the sub-pixel ones rounded half up.
    np.testing.assert_array_equal(ours["landmarks"], np.floor(ours["landmarks_subpixel"] + 0.5))


def test_no_rectangles_means_no_points(serve: Serve) -> None:
    image = np.zeros((40, 30, 3), dtype=np.uint8)
    outputs = serve({"image": image, "boxes": np.zeros((0, 4), dtype=np.float32)})
    assert outputs["landmarks"].shape == (0, 5, 2)
    assert outputs["landmarks_subpixel"].shape == (0, 5, 2)


def test_built_model_describes_itself(built: Any) -> None:
    assert built.name == "face_landmarks"
    source, hog_source = built.sources
    assert source.file == landmarks.PREDICTOR_FILE and len(source.sha256) == 64
    # dlib's HOG face detector travels with it (its hog_detector signature: test_hog_detector.py).
    assert hog_source.package == "dlib-bin" and len(hog_source.sha256) == 64
    assert set(built.signature["inputs"]) == {"image", "boxes"}
    assert set(built.signature["signatures"]["hog_detector"]["outputs"]) == {
        "filters",
        "thresholds",
        "config",
        "overlap",
    }
    assert built.signatures == {"hog_detector": "hog_detector"}
    assert built.figures == {
        "cascade_levels": 15,
        "trees_per_level": 500,
        "tree_depth": 4,
        "feature_pixels": 800,
        "hog_filters": 5,
    }
