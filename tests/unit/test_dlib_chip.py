"""Our face chips against dlib.get_face_chip, pixel for pixel, on real faces and awkward placements."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from amyplant_faces.pipeline.dlib_chip import extract_face_chip, face_chip_placement, pyramid_down

dlib = pytest.importorskip("dlib", reason="dlib (dlib-bin) is the reference for the chips")
face_recognition_models = pytest.importorskip("face_recognition_models")

SIZE, PADDING = 150, 0.25


@pytest.fixture(scope="module")
def finder() -> Any:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())

    def shapes(image: np.ndarray) -> list[Any]:
        return [predictor(image, rect) for rect in detector(image, 1)]

    return shapes


def _points(shape: Any) -> np.ndarray:
    return np.asarray([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _photos(data: Path) -> Iterator[tuple[str, np.ndarray]]:
    for path in sorted(p for f in ("enroll", "probe", "photos", "video") for p in (data / f).rglob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            yield (
                str(path.relative_to(data)),
                np.ascontiguousarray(np.asarray(cv2.imread(str(path)))[:, :, ::-1]),
            )


def _compare(image: np.ndarray, shape: Any, size: int = SIZE, padding: float = PADDING) -> tuple[int, float]:
    """Largest per-pixel difference and the fraction of values that differ at all."""
    theirs = dlib.get_face_chip(image, shape, size=size, padding=padding)
    ours = extract_face_chip(image, _points(shape), size=size, padding=padding)
    difference = np.abs(theirs.astype(np.int64) - ours)
    return int(difference.max()), float((difference > 0).mean())


def test_every_shared_face_is_cut_as_dlib_cuts_it(finder: Any, shared_data: Path) -> None:
    results = []
    for name, image in _photos(shared_data):
        for shape in finder(image):
            results.append((name, *_compare(image, shape)))
    assert len(results) >= 20
    # Exact but for float rounding: a sample landing on a whole number may floor to the value below.
    assert max(r[1] for r in results) <= 1, results
    assert max(r[2] for r in results) < 0.001, results
    # Faces large enough that dlib shrinks them through its pyramid first are among them.
    big = [r for r in results if "1080p" in r[0] or "biden2" in r[0]]
    assert big and all(r[1] <= 1 for r in big)


def test_cut_faces_turned_faces_and_other_sizes_match(finder: Any, shared_data: Path) -> None:
    image = np.ascontiguousarray(
        np.asarray(cv2.imread(str(shared_data / "probe" / "obama1.jpg")))[:, :, ::-1]
    )
    [shape] = finder(image)
    rect = shape.rect
    # The face cut by the image's left and top edges: the chip reaches outside the image (black).
    cut = np.ascontiguousarray(image[rect.top() + rect.height() // 3 :, rect.left() + rect.width() // 3 :])
    shifted = dlib.full_object_detection(
        dlib.rectangle(0, 0, 10, 10),
        [
            dlib.point(p.x - rect.left() - rect.width() // 3, p.y - rect.top() - rect.height() // 3)
            for p in shape.parts()
        ],
    )
    assert _compare(cut, shifted)[0] <= 1
    height, width = image.shape[:2]
    turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0), (width, height))
    [turned_shape] = finder(turned)
    assert _compare(turned, turned_shape)[0] <= 1
    for size, padding in ((64, 0.2), (200, 0.0), (80, 0.5)):
        assert _compare(image, shape, size, padding)[0] <= 1


def test_the_placement_is_dlibs(shared_data: Path, finder: Any) -> None:
    """Where each chip pixel samples, read off coordinate ramps (a bilinear sample of a ramp is its own
    position), against our placement's corners. The photo is shrunk so that dlib needs no pyramid (whose
    position map shifts samples by a quarter pixel per level; the pixel tests above cover that)."""
    photo = np.asarray(cv2.imread(str(shared_data / "probe" / "obama1.jpg")))[:, :, ::-1]
    image = np.ascontiguousarray(cv2.resize(photo, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA))
    [shape] = finder(image)
    details = dlib.get_face_chip_details(shape, SIZE, PADDING)
    height, width = image.shape[:2]
    ramp_x = np.tile(np.arange(width, dtype=np.float64), (height, 1))
    ramp_y = np.tile(np.arange(height, dtype=np.float64)[:, None], (1, width))
    sampled_x = dlib.extract_image_chip(ramp_x, details)
    sampled_y = dlib.extract_image_chip(ramp_y, details)
    corners = face_chip_placement(_points(shape), size=SIZE, padding=PADDING).corners()
    theirs = np.array([[sampled_x[0, 0], sampled_y[0, 0]], [sampled_x[0, -1], sampled_y[0, -1]]])
    np.testing.assert_allclose(theirs, corners[:2], atol=1e-6)


def test_pyramid_level_is_dlibs() -> None:
    generator = np.random.default_rng(3)
    for shape in ((61, 83, 3), (10, 11, 3), (200, 101, 3)):
        image = generator.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(pyramid_down(image), dlib.pyramid_down(2)(image))


def test_a_chip_outside_the_image_is_black() -> None:
    image = np.full((50, 60, 3), 200, dtype=np.uint8)
    far = np.array([[1000, 1000], [990, 1000], [960, 1000], [970, 1000], [980, 1020]], dtype=np.float64)
    assert not extract_face_chip(image, far).any()
    with pytest.raises(ValueError, match="RGB uint8"):
        extract_face_chip(image[:, :, 0], far)
