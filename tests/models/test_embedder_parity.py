"""The face embedder rebuilt from dlib's file, saved and reloaded, against dlib's own descriptor."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from amyplant_modelbuild.builders import embedder
from amyplant_modelbuild.builders.dlib_format import (
    DlibFormatError,
    DlibStream,
    read_network,
    read_network_file,
)
from amyplant_modelbuild.builders.embedder_check import dlib_descriptors
from tests.models.chips import probe_chips, synthetic_chips, tiled
from tests.models.saved import Serve, save_and_load, signature_caller

MIN_CHIPS = 50
MAX_ABS_DIFF = 1e-3
TIMED_BATCHES = (1, 8, 32)


@pytest.fixture(scope="module")
def built() -> Any:
    return embedder.build()


@pytest.fixture(scope="module")
def loaded(built: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The SavedModel written the way the model repository writes it, loaded back from disk."""
    return save_and_load(built, tmp_path_factory.mktemp("face_embedder"))


@pytest.fixture(scope="module")
def serve(loaded: Any) -> Serve:
    return signature_caller(loaded)


def test_built_model_describes_itself(built: Any) -> None:
    assert built.name == "face_embedder"
    [source] = built.sources
    assert source.file == embedder.WEIGHTS_FILE and len(source.sha256) == 64
    assert built.signature["inputs"]["chips"]["shape"] == [None, 150, 150, 3]
    assert built.signature["outputs"]["embeddings"]["shape"] == [None, 128]
    assert built.figures["parameters"] == 5_614_592


def test_saved_embedder_matches_dlib_on_real_faces(serve: Serve, shared_data: Path) -> None:
    figures = embedder.check(serve, shared_data)
    print(json.dumps({k: v for k, v in figures.items() if k != "inputs"}, indent=1))
    assert figures["inputs"]["kind"] == "real"
    assert figures["chips"] >= MIN_CHIPS
    assert figures["max_abs_diff"] <= MAX_ABS_DIFF
    assert figures["pairs"] == figures["paired_chips"] * (figures["paired_chips"] - 1) // 2 > 0
    assert figures["same_person_pairs"] > 0
    assert figures["decision_agreement"] == 1.0


def test_serving_signature_takes_any_batch(serve: Serve) -> None:
    for count in (1, 3):
        chips = synthetic_chips(count, size=embedder.CHIP_SIZE, seed=count)
        embeddings = serve({"chips": chips})["embeddings"]
        assert embeddings.shape == (count, embedder.EMBEDDING_SIZE) and embeddings.dtype == np.float32
        assert np.all(np.isfinite(embeddings))


def test_check_without_data_runs_on_generated_chips(serve: Serve, tmp_path: Path) -> None:
    figures = embedder.check(serve, tmp_path / "absent")
    assert figures["inputs"]["kind"] == "generated"
    assert figures["chips"] > 0 and figures["max_abs_diff"] <= MAX_ABS_DIFF


def _ms_per_face(run: Callable[[], object], faces: int, repeats: int) -> float:
    run()  # the first call pays for tracing and allocation
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - start) * 1000.0 / (repeats * faces)


def test_speed_is_reported(loaded: Any, shared_data: Path) -> None:
    """Milliseconds per face of the reloaded SavedModel at several batch sizes, and of dlib at batch 1."""
    chips = probe_chips(shared_data, size=embedder.CHIP_SIZE, padding=embedder.CHIP_PADDING)
    function = loaded.signatures["serving_default"]
    figures = {}
    for batch in TIMED_BATCHES:
        tensor = tf.constant(tiled(chips, batch))
        figures[f"savedmodel_batch{batch}"] = _ms_per_face(
            functools.partial(function, chips=tensor), batch, max(2, 16 // batch)
        )
    figures["dlib_batch1"] = _ms_per_face(lambda: dlib_descriptors([chips[0]]), 1, 3)
    print("ms per face:", json.dumps({k: round(v, 1) for k, v in figures.items()}))
    assert all(v > 0 for v in figures.values())


def test_reader_reads_the_whole_file() -> None:
    network = read_network_file(embedder.weights_path())
    kinds = [layer.kind for layer in network.layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    assert network.parameter_count() == 5_614_592
    assert network.loss.settings["distance_threshold"] == pytest.approx(0.6)
    assert network.input.settings["avg_red"] == pytest.approx(122.782)


def test_reader_rejects_truncated_and_padded_files() -> None:
    data = embedder.weights_path().read_bytes()
    for cut in (3, 200, len(data) // 2, len(data) - 1):
        with pytest.raises(DlibFormatError, match="truncated"):
            read_network(DlibStream(data[:cut]))
    with pytest.raises(DlibFormatError, match="bytes left"):
        read_network(DlibStream(data + b"\x00"))
    with pytest.raises(DlibFormatError, match="loss"):
        read_network(DlibStream(data[:4] + b"X" + data[5:]))


def test_reader_primitives() -> None:
    stream = DlibStream(bytes([0x01, 0x05, 0x82, 0x00, 0x01, 0x00]) + b"1" + bytes([0x01, 0x03, 0x81, 0x01]))
    assert stream.integer("positive") == 5
    assert stream.integer("negative") == -256
    assert stream.integer("zero") == 0
    assert stream.boolean("flag") is True
    assert stream.real("float") == 1.5  # 3 * 2**-1
    stream.expect_end()
    with pytest.raises(DlibFormatError, match="control byte"):
        DlibStream(bytes([0x7F])).integer("bad")
