"""The model clients: in-process hot switching, gRPC and REST against the TF Serving stand-in, errors."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from amyplant.embedded.ports import free_loopback_port
from amyplant_config.settings import CommonSettings
from amyplant_faces.models import repository
from amyplant_faces.models.client import (
    ModelClient,
    ModelNotFound,
    ModelServerUnavailable,
    create_model_client,
)
from amyplant_faces.models.inprocess import InProcessRuntime
from amyplant_faces.models.tensor_proto import ndarray_to_proto, proto_to_ndarray
from amyplant_faces.models.tfserving import TFServingClient
from amyplant_modelbuild.build import build_missing
from tests.models.tiny_models import TinyBuilder, reference, sample_inputs, tiny_builders
from tests.standin.tfserving_standin import TFServingStandin

EMBEDDER = "face_embedder"
TRANSPORTS = ["grpc", "rest"]


def _chips(size: int, count: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def _expected_embeddings(chips: np.ndarray, scale: float) -> np.ndarray:
    return reference(EMBEDDER, {"chips": chips}, scale)["embeddings"]


def _publish_embedder(repo: Path, scale: float) -> None:
    repository.publish(repo, built=TinyBuilder(EMBEDDER, scale).build())


@pytest.fixture(scope="module")
def served_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("served") / "models"
    build_missing(repo, builders=tiny_builders(), show_progress=False)
    return repo


@pytest.fixture(scope="module")
def standin(served_repo: Path) -> Iterator[TFServingStandin]:
    with TFServingStandin(served_repo) as server:
        yield server


def _client(server: TFServingStandin, transport: str, **options: float) -> TFServingClient:
    return TFServingClient(server.grpc_url if transport == "grpc" else server.rest_url, **options)  # type: ignore[arg-type]


def test_inprocess_switches_to_a_new_version_without_restart(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    _publish_embedder(repo, 1.0)
    chips = _chips(150, 2)
    runtime = InProcessRuntime(repo, poll_interval_s=0.0)
    np.testing.assert_allclose(runtime.embed(chips), _expected_embeddings(chips, 1.0), rtol=1e-5)

    _publish_embedder(repo, 2.0)

    np.testing.assert_allclose(runtime.embed(chips), _expected_embeddings(chips, 2.0), rtol=1e-5)
    np.testing.assert_allclose(
        runtime.embed(chips, model_version=1), _expected_embeddings(chips, 1.0), rtol=1e-5
    )
    status = runtime.status().model(EMBEDDER)
    assert status is not None and status.available_versions == (1, 2) and status.serving_version == 2

    repository.rollback(repo, name=EMBEDDER)

    np.testing.assert_allclose(runtime.embed(chips), _expected_embeddings(chips, 1.0), rtol=1e-5)
    with pytest.raises(ModelNotFound, match="version 2 of model 'face_embedder'"):
        runtime.embed(chips, model_version=2)


def test_inprocess_looks_for_new_versions_at_most_every_poll_interval(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    _publish_embedder(repo, 1.0)
    chips = _chips(150, 1)
    runtime = InProcessRuntime(repo, poll_interval_s=3600.0)
    runtime.embed(chips)

    _publish_embedder(repo, 2.0)

    np.testing.assert_allclose(runtime.embed(chips), _expected_embeddings(chips, 1.0), rtol=1e-5)


def test_inprocess_keeps_serving_when_a_newer_version_is_broken(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    _publish_embedder(repo, 1.0)
    broken = repo / EMBEDDER / "2"  # e.g. copied by hand, not through publish()
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    chips = _chips(150, 1)
    runtime = InProcessRuntime(repo, poll_interval_s=0.0)

    np.testing.assert_allclose(runtime.embed(chips), _expected_embeddings(chips, 1.0), rtol=1e-5)
    np.testing.assert_allclose(runtime.embed(chips), _expected_embeddings(chips, 1.0), rtol=1e-5)

    status = runtime.status().model(EMBEDDER)
    assert status is not None and status.serving_version == 1
    assert [(v.version, v.state) for v in status.versions] == [(1, "AVAILABLE"), (2, "FAILED")]


def test_inprocess_switch_under_concurrent_requests(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    _publish_embedder(repo, 1.0)
    chips = _chips(150, 2)
    expected = {scale: _expected_embeddings(chips, scale) for scale in (1.0, 2.0)}
    runtime = InProcessRuntime(repo, poll_interval_s=0.0)
    runtime.embed(chips)  # loaded before the callers start
    published = threading.Event()
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            for _ in range(200):
                results.append(runtime.embed(chips))
                if published.is_set():
                    break
            results.append(runtime.embed(chips))
        except BaseException as error:
            errors.append(error)

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    _publish_embedder(repo, 2.0)
    published.set()
    for caller in callers:
        caller.join()

    assert errors == []
    matched = [next(s for s, e in expected.items() if np.allclose(r, e, rtol=1e-5)) for r in results]
    assert matched[-1] == 2.0
    assert set(matched) <= {1.0, 2.0}


def test_inprocess_missing_model_names_model_and_repository(tmp_path: Path) -> None:
    runtime = InProcessRuntime(tmp_path, poll_interval_s=0.0)
    with pytest.raises(ModelNotFound, match=f"'face_embedder' is not served by in-process:{tmp_path}"):
        runtime.embed(_chips(150, 1))
    assert not runtime.status().ready


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_remote_clients_match_inprocess(standin: TFServingStandin, served_repo: Path, transport: str) -> None:
    local = InProcessRuntime(served_repo)
    bright = sample_inputs("face_detector")["image"]
    dark = np.zeros((48, 64, 3), np.uint8)
    with _client(standin, transport) as remote:
        assert remote.detect(bright) == local.detect(bright)
        assert remote.detect(dark) == []
        assert remote.detect_batch([bright, dark]) == [local.detect(bright), []]
        # The landmarks model takes two inputs (the image and rectangles), one of them possibly empty.
        boxes = sample_inputs("face_landmarks")["boxes"]
        np.testing.assert_allclose(remote.landmarks(bright, boxes), local.landmarks(bright, boxes), atol=1e-4)
        assert remote.landmarks(bright, boxes[:0]).shape == (0, 5, 2)
        for count in (0, 1, 5):
            chips150, chips64 = _chips(150, count), _chips(64, count)
            np.testing.assert_allclose(remote.embed(chips150), local.embed(chips150), rtol=1e-6, atol=1e-7)
            assert remote.embed(chips150).shape == (count, 128)
            remote_attributes = remote.attributes(chips64)
            local_attributes = local.attributes(chips64)
            assert [a.gender for a in remote_attributes] == [a.gender for a in local_attributes]
            np.testing.assert_allclose(
                np.array([(a.age, a.female_probability) for a in remote_attributes]).reshape(-1, 2),
                np.array([(a.age, a.female_probability) for a in local_attributes]).reshape(-1, 2),
                rtol=1e-6,
            )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_remote_status_and_version_selection(tiny_repo: Path, transport: str) -> None:
    _publish_embedder(tiny_repo, 2.0)
    chips = _chips(150, 2)
    with TFServingStandin(tiny_repo) as server, _client(server, transport) as remote:
        address = server.grpc_url if transport == "grpc" else server.rest_url
        status = remote.status()
        assert status.ready
        embedder = status.model(EMBEDDER)
        assert embedder is not None and embedder.available_versions == (1, 2)
        np.testing.assert_allclose(remote.embed(chips), _expected_embeddings(chips, 2.0), rtol=1e-5)
        np.testing.assert_allclose(
            remote.embed(chips, model_version=1), _expected_embeddings(chips, 1.0), rtol=1e-5
        )
        with pytest.raises(
            ModelNotFound, match=f"version 9 of model 'face_embedder' is not served by {address}"
        ):
            remote.embed(chips, model_version=9)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_missing_model_is_a_clear_error(tmp_path: Path, transport: str) -> None:
    repo = tmp_path / "models"
    build_missing(repo, names=[EMBEDDER], builders=tiny_builders(), show_progress=False)
    repository.write_models_config(repo, names=[EMBEDDER])
    with TFServingStandin(repo) as server, _client(server, transport) as remote:
        address = server.grpc_url if transport == "grpc" else server.rest_url
        with pytest.raises(ModelNotFound, match=f"model 'face_detector' is not served by {address}"):
            remote.detect(sample_inputs("face_detector")["image"])
        status = remote.status()
        assert not status.ready
        detector = status.model("face_detector")
        assert detector is not None and detector.serving_version is None and detector.error


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_missing_server_is_a_clear_error_after_retries(transport: str) -> None:
    scheme = "grpc" if transport == "grpc" else "http"
    address = f"{scheme}://127.0.0.1:{free_loopback_port()}"
    with TFServingClient(address, retries=2, backoff_s=0.01, timeout_s=2.0) as remote:
        started = time.monotonic()
        with pytest.raises(
            ModelServerUnavailable, match=f"model server {address} is unavailable.*after 3 attempts"
        ):
            remote.embed(_chips(150, 1))
        assert time.monotonic() - started >= 0.03  # it waited 0.01 s, then 0.02 s between attempts


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_retries_reach_a_server_that_starts_late(served_repo: Path, transport: str) -> None:
    port = free_loopback_port()
    server = TFServingStandin(served_repo, **{f"{transport}_port": port})  # type: ignore[arg-type]
    starter = threading.Timer(0.3, server.start)
    scheme = "grpc" if transport == "grpc" else "http"
    with TFServingClient(f"{scheme}://127.0.0.1:{port}", retries=6, backoff_s=0.1) as remote:
        starter.start()
        try:
            assert remote.embed(_chips(150, 1)).shape == (1, 128)
        finally:
            starter.join()
            server.stop()


def test_clients_refuse_wrong_inputs_before_calling(tiny_repo: Path) -> None:
    runtime: ModelClient = InProcessRuntime(tiny_repo)
    with pytest.raises(ValueError, match=r"chips \[B, 150, 150, 3\]"):
        runtime.embed(_chips(64, 1))
    with pytest.raises(ValueError, match=r"RGB uint8 image"):
        runtime.detect(np.zeros((10, 10, 3), np.float32))


def test_factory_picks_the_runtime_from_settings(tmp_path: Path) -> None:
    local = create_model_client(CommonSettings(model_repository=tmp_path))
    assert isinstance(local, InProcessRuntime) and local.address == f"in-process:{tmp_path}"
    for url in ("grpc://127.0.0.1:8500", "http://127.0.0.1:8501"):
        with create_model_client(CommonSettings(model_server=url)) as remote:
            assert isinstance(remote, TFServingClient) and remote.address == url
    with pytest.raises(ValueError, match="grpc://host:port or http"):
        create_model_client(CommonSettings(model_server="ftp://127.0.0.1:21"))


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.float32, np.float64, np.int32, np.int64, np.float16, np.bool_]
)
def test_tensor_proto_codec_agrees_with_tensorflow(dtype: type[np.generic]) -> None:
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    np.testing.assert_array_equal(tf.make_ndarray(ndarray_to_proto(array)), array)
    np.testing.assert_array_equal(proto_to_ndarray(tf.make_tensor_proto(array)), array)
    # The value-field form with a trailing repeat (TF writes [1, 2, 2, 2] as [1, 2]).
    compact = tf.make_tensor_proto(np.array([1, 2], dtype=dtype), shape=[4])
    np.testing.assert_array_equal(proto_to_ndarray(compact), np.array([1, 2, 2, 2], dtype=dtype))
    assert proto_to_ndarray(ndarray_to_proto(np.zeros((0, 4), dtype))).shape == (0, 4)


def _real_inputs() -> tuple[np.ndarray, str]:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    data = Path(configured) if configured else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    if (data / "photos" / "two_people.jpg").is_file():
        image = cv2.imread(str(data / "photos" / "two_people.jpg"))
        assert image is not None
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), "photos/two_people.jpg"
    # Without the photos, a smooth synthetic image still compares the transports bit for bit.
    y, x = np.mgrid[0:480, 0:640]
    return np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8), "generated"


def _crops(image: np.ndarray, boxes: list[tuple[float, float, float, float]], size: int) -> np.ndarray:
    height, width = image.shape[:2]
    regions = boxes or [(0.0, 0.0, float(width), float(height))]
    chips = []
    for x1, y1, x2, y2 in regions:
        crop = image[max(int(y1), 0) : max(int(y2), 1), max(int(x1), 0) : max(int(x2), 1)]
        chips.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(chips)


@pytest.mark.slow
def test_real_models_give_the_same_outputs_through_grpc_and_in_process(built_model_repo: Path) -> None:
    image, _source = _real_inputs()
    local = InProcessRuntime(built_model_repo)
    with (
        TFServingStandin(built_model_repo) as server,
        TFServingClient(server.grpc_url, timeout_s=60.0) as remote,
    ):
        local_faces = local.detect(image)
        remote_faces = remote.detect(image)
        assert len(remote_faces) == len(local_faces)
        for mine, theirs in zip(remote_faces, local_faces, strict=True):
            np.testing.assert_allclose(mine.box, theirs.box, atol=1e-3)
            np.testing.assert_allclose(mine.landmarks, theirs.landmarks, atol=1e-3)
            assert mine.score == pytest.approx(theirs.score, abs=1e-5)
        boxes = [face.box for face in local_faces]
        chips150, chips64 = _crops(image, boxes, 150), _crops(image, boxes, 64)
        np.testing.assert_allclose(remote.embed(chips150), local.embed(chips150), atol=1e-5)
        remote_attributes, local_attributes = remote.attributes(chips64), local.attributes(chips64)
        for remote_one, local_one in zip(remote_attributes, local_attributes, strict=True):
            assert remote_one.age == pytest.approx(local_one.age, abs=1e-3)
            assert remote_one.female_probability == pytest.approx(local_one.female_probability, abs=1e-5)
