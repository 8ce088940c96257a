"""dlib's HOG frontal face detector: read from dlib-bin, carried by the face_landmarks model as its
`hog_detector` signature, and served the same by every runtime (in process, gRPC, REST)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amyplant_faces.models.inprocess import InProcessRuntime
from amyplant_faces.models.tfserving import TFServingClient
from amyplant_modelbuild.builders.dlib_format import DlibFormatError
from amyplant_modelbuild.builders.hog_detector_format import read_hog_detector, saved_frontal_detector
from tests.standin.tfserving_standin import TFServingStandin


def test_dlibs_saved_detector_is_read_to_its_last_byte_and_damage_is_refused() -> None:
    data, version = saved_frontal_detector()
    detector = read_hog_detector(data)
    assert version
    assert detector.filters.shape == (5, 31, 10, 10)
    assert detector.thresholds.shape == (5,) and np.all(detector.thresholds > 0)
    assert detector.config.tolist() == [8, 0, 80, 80, 1000, 64, 64]
    assert 0 < detector.overlap[0] < detector.overlap[1] < 1
    with pytest.raises(DlibFormatError, match="truncated"):
        read_hog_detector(data[:-3])
    with pytest.raises(DlibFormatError, match="left after"):
        read_hog_detector(data + b"\x00")
    with pytest.raises(DlibFormatError, match="version"):
        read_hog_detector(b"\x01\x03" + data[2:])


@pytest.mark.slow
def test_the_landmarks_model_serves_dlibs_detector_exactly_on_every_runtime(built_model_repo: Path) -> None:
    expected = read_hog_detector(saved_frontal_detector()[0])
    local = InProcessRuntime(built_model_repo)
    with (
        TFServingStandin(built_model_repo) as server,
        TFServingClient(server.grpc_url, timeout_s=60.0) as grpc,
        TFServingClient(server.rest_url, timeout_s=60.0) as rest,
    ):
        for client in (local, grpc, rest):
            weights = client.hog_detector()
            # Bit for bit: the filters are float64 and the search reproduces dlib's rounding from them.
            assert weights.filters.dtype == np.float64
            np.testing.assert_array_equal(weights.filters, expected.filters)
            np.testing.assert_array_equal(weights.thresholds, expected.thresholds)
            np.testing.assert_array_equal(weights.config, expected.config)
            np.testing.assert_array_equal(weights.overlap, expected.overlap)
