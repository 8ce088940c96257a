"""Camera files are validated with clear errors; frames encode and decode, broken bytes are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amyplant_capture.cameras import CameraConfigError, load_cameras
from amyplant_queue.frames import FrameUndecodable, decode_image, encode_jpeg


def test_yaml_and_toml_camera_files_load(tmp_path: Path) -> None:
    yaml_file = tmp_path / "cameras.yaml"
    yaml_file.write_text(
        "cameras:\n  - id: front_door\n    source: rtsp://10.0.0.2/stream\n    detect_fps: 4\n"
    )
    toml_file = tmp_path / "cameras.toml"
    toml_file.write_text('[[cameras]]\nid = "garage"\nsource = "0"\n')
    assert [c.id for c in load_cameras(yaml_file)] == ["front_door"]
    assert load_cameras(yaml_file)[0].detect_fps == 4
    assert load_cameras(toml_file)[0].detect_fps == 5.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("cameras:\n  - id: a\n", "source"),
        ("cameras:\n  - id: a\n    source: x\n  - id: a\n    source: y\n", "repeated: a"),
        ("cameras:\n  - id: a\n    source: x\n    detect_fps: 0\n", "detect_fps"),
        ("cameras: [unclosed\n", "cameras.yaml"),
    ],
)
def test_bad_camera_files_name_the_file_and_the_problem(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text(content)
    with pytest.raises(CameraConfigError, match=expected) as error:
        load_cameras(path)
    assert str(path) in str(error.value)


def test_jpeg_round_trip_keeps_the_picture() -> None:
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:, :32] = (255, 0, 0)
    decoded = decode_image(encode_jpeg(image, quality=95))
    assert decoded.shape == image.shape
    assert decoded[24, 10, 0] > 240 and decoded[24, 10, 2] < 20  # red stays red: channels are RGB
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 3


@pytest.mark.parametrize("data", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 20])
def test_broken_images_raise_a_clear_error(data: bytes) -> None:
    with pytest.raises(FrameUndecodable, match="could not be decoded"):
        decode_image(data)
