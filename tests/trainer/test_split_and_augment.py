"""Splits are reproducible and keep neighbouring frames together; augmentation moves boxes with the image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from amyplant_trainer.augment import (
    CLOSE_UP_SPAN,
    AugmentedSample,
    augment_once,
    close_up_window,
    expand,
    make_close_up,
)
from amyplant_trainer.labelme import Annotation, FaceBox
from amyplant_trainer.split import SplitPlan, split_by_blocks
from amyplant_trainer.targets import encode_targets


def test_split_is_seeded_and_never_separates_a_block() -> None:
    frames = list(range(100))
    plan = SplitPlan(validation=0.2, test=0.2, block=10, seed=7)
    first, again = split_by_blocks(frames, plan), split_by_blocks(frames, plan)
    assert first == again
    assert sorted(first["train"] + first["validation"] + first["test"]) == frames
    for name, members in first.items():
        blocks = {frame // 10 for frame in members}
        assert len(members) == 10 * len(blocks), name  # whole blocks only
    assert len(first["test"]) == 20 and len(first["validation"]) == 20
    assert split_by_blocks(frames, SplitPlan(validation=0.2, test=0.2, block=10, seed=8)) != first


def test_a_spread_split_tests_every_part_of_the_timeline() -> None:
    frames = list(range(200))
    spread = split_by_blocks(frames, SplitPlan(validation=0.2, test=0.2, block=10, seed=3))
    tested_blocks = sorted({frame // 10 for frame in spread["test"]})
    # Strata of 5 blocks (1 / 0.2): exactly one test block in each quarter of the recording.
    assert [block // 5 for block in tested_blocks] == [0, 1, 2, 3]
    assert len(spread["validation"]) == 40
    assert sorted(spread["train"] + spread["validation"] + spread["test"]) == frames
    at_random = split_by_blocks(frames, SplitPlan(validation=0.2, test=0.2, block=10, seed=3, spread=False))
    assert at_random != spread and len(at_random["test"]) == 40


def test_split_refuses_impossible_fractions() -> None:
    with pytest.raises(ValueError, match="room for training"):
        split_by_blocks([1, 2, 3], SplitPlan(validation=0.5, test=0.5))


def _scene(tmp_path: Path) -> Annotation:
    """A grey image with a white square 'face' at a known place; its box is the square."""
    image = np.full((200, 300, 3), 60, np.uint8)
    image[50:110, 120:180] = 255
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image)
    points = ((135.0, 70.0), (165.0, 70.0), (150.0, 85.0), (138.0, 100.0), (162.0, 100.0))
    return Annotation(
        image_path=path, width=300, height=200, faces=[FaceBox(120, 50, 180, 110, landmarks=points)]
    )


def test_augmented_boxes_still_enclose_the_face(tmp_path: Path) -> None:
    samples = expand([_scene(tmp_path)], size=96, factor=25, seed=3)
    assert len(samples) == 25
    with_face = [s for s in samples if len(s.boxes)]
    assert with_face, "every crop dropped the face"
    for sample in with_face:
        x1, y1, x2, y2 = (sample.boxes[0] * 96).round().astype(int)
        inside = sample.image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].astype(float).mean()
        assert inside > 150, "the box no longer sits on the bright square"
        eyes = sample.landmarks[0, :2, 0]
        assert sample.has_landmarks[0] and eyes[0] < eyes[1], (
            "image-left eye must stay on the left after a flip"
        )


@pytest.mark.parametrize(
    "face", [(120, 50, 180, 110), (0, 0, 40, 30), (260, 170, 300, 200), (10, 5, 290, 195)]
)
def test_a_close_up_window_holds_the_face_at_the_frame_aspect(face: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(4)
    for _ in range(50):
        x1, y1, x2, y2 = close_up_window(face, 200, 300, rng)
        assert 0 <= x1 < x2 <= 300 and 0 <= y1 < y2 <= 200
        assert x1 <= face[0] and y1 <= face[1] and face[2] <= x2 and face[3] <= y2
        assert (x2 - x1) / (y2 - y1) == pytest.approx(1.5, abs=0.05)
        span = max(face[2] - face[0], face[3] - face[1]) / (x2 - x1)
        # The face spans CLOSE_UP_SPAN of the window, unless the window had to be the whole frame.
        assert CLOSE_UP_SPAN[0] - 0.02 <= span <= CLOSE_UP_SPAN[1] + 0.02 or (x2 - x1) == 300


def test_a_close_up_sample_enlarges_the_face_and_keeps_box_and_landmarks_on_it(tmp_path: Path) -> None:
    scene = _scene(tmp_path)
    bgr = cv2.imread(str(scene.image_path))
    assert bgr is not None
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(0)
    window = close_up_window((120, 50, 180, 110), 200, 300, rng)
    sample = augment_once(image, scene, make_close_up(96, window, seed=1), rng)
    x1, y1, x2, y2 = sample.boxes[0] * 96
    assert CLOSE_UP_SPAN[0] - 0.02 <= (x2 - x1) / 96 <= CLOSE_UP_SPAN[1] + 0.02  # the square was 0.2 wide
    inside = sample.image[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2].astype(float).mean()
    assert inside > 150
    assert sample.has_landmarks[0]
    points = sample.landmarks[0] * 96
    assert (points[:, 0] > x1).all() and (points[:, 0] < x2).all()
    assert (points[:, 1] > y1).all() and (points[:, 1] < y2).all()


def test_close_ups_enlarge_a_small_face_in_every_sample_asked(tmp_path: Path) -> None:
    image = np.full((200, 300, 3), 60, np.uint8)
    image[80:110, 200:230] = 255  # a 30-pixel face: a tenth of the frame's width
    cv2.imwrite(str(tmp_path / "small.png"), image)
    scene = Annotation(
        image_path=tmp_path / "small.png", width=300, height=200, faces=[FaceBox(200, 80, 230, 110)]
    )

    def spans(share: float) -> list[float]:
        samples = expand([scene], size=96, factor=20, seed=2, close_up_share=share)
        return [float(s.boxes[0, 2] - s.boxes[0, 0]) for s in samples if len(s.boxes)]

    def close_up(span: float) -> bool:
        return CLOSE_UP_SPAN[0] - 0.02 <= span <= CLOSE_UP_SPAN[1] + 0.02

    assert len(spans(1.0)) == 20 and all(close_up(span) for span in spans(1.0))
    assert not all(close_up(span) for span in spans(0.0))


def test_targets_mark_the_cell_of_the_face_centre(tmp_path: Path) -> None:
    sample = expand([_scene(tmp_path)], size=96, factor=1, seed=1)[0]
    target = encode_targets(sample, grid=6)
    assert target[..., 0].sum() >= len(sample.boxes)
    if len(sample.boxes):
        x1, y1, x2, y2 = sample.boxes[0]
        row, column = int((y1 + y2) / 2 * 6), int((x1 + x2) / 2 * 6)
        assert target[row, column, 0] == 1.0
        np.testing.assert_allclose(target[row, column, 1:5], sample.boxes[0])


def _sample(boxes: list[list[float]]) -> AugmentedSample:
    count = len(boxes)
    return AugmentedSample(
        np.zeros((64, 64, 3), np.uint8),
        np.asarray(boxes, np.float32),
        np.zeros((count, 5, 2), np.float32),
        np.zeros(count, bool),
    )


def test_the_cells_around_a_large_face_centre_share_it_and_neighbours_split_by_distance() -> None:
    large = [0.2, 0.2, 0.8, 0.8]
    target = encode_targets(_sample([large]), grid=16)
    rows, columns = np.nonzero(target[..., 0])
    # A quarter of the width (0.15) is capped at 1.5 cells (0.094) from the centre 0.5: cells 6 to 9.
    assert set(rows.tolist()) == set(columns.tolist()) == {6, 7, 8, 9}
    np.testing.assert_allclose(target[7, 8, 1:5], large)
    left, right = [0.15, 0.4, 0.55, 0.6], [0.3, 0.4, 0.7, 0.6]  # centres 0.35 and 0.5
    split = encode_targets(_sample([left, right]), grid=16)
    # Column 6 (centre 0.406) is within reach of both and nearer the left face.
    np.testing.assert_allclose(split[7, 5, 1:5], left)
    np.testing.assert_allclose(split[7, 6, 1:5], left)
    np.testing.assert_allclose(split[7, 7, 1:5], right)
