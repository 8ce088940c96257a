"""Our face chips against dlib.get_face_chip, pixel for pixel: real, cut, turned, tiny and huge faces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from amyplant_faces.pipeline.dlib_chip import (
    FACE_TEMPLATE,
    ChipGeometry,
    extract_face_chip,
    face_chip_geometry,
    pyramid_down,
    pyramid_levels,
)

dlib = pytest.importorskip("dlib", reason="dlib (dlib-bin) is the reference for the chips")
face_recognition_models = pytest.importorskip("face_recognition_models")

SIZE, PADDING = 150, 0.25
Finder = Callable[[np.ndarray], list[Any]]


@pytest.fixture(scope="module")
def finder() -> Finder:
    """dlib's faces as face_recognition finds them: HOG detector (upsampled once), 5-point predictor."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())

    def shapes(image: np.ndarray) -> list[Any]:
        return [predictor(image, rect) for rect in detector(image, 1)]

    return shapes


def _rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(cv2.imread(str(path)))[:, :, ::-1])


def _points(shape: Any) -> np.ndarray:
    return np.asarray([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _shape(points: np.ndarray) -> Any:
    parts = [dlib.point(round(float(x)), round(float(y))) for x, y in points]
    return dlib.full_object_detection(dlib.rectangle(0, 0, 10, 10), parts)


def _difference(image: np.ndarray, shape: Any, size: int = SIZE, padding: float = PADDING) -> dict[str, Any]:
    """Our chip against dlib's: largest and mean absolute difference, and how many values differ."""
    theirs = np.asarray(dlib.get_face_chip(image, shape, size=size, padding=padding), dtype=np.int64)
    ours = extract_face_chip(image, _points(shape), size=size, padding=padding)
    difference = np.abs(theirs - ours)
    geometry = face_chip_geometry(_points(shape), size=size, padding=padding)
    return {
        "max": int(difference.max()),
        "mean": float(difference.mean()),
        "differing": int((difference > 0).sum()),
        "levels": pyramid_levels(geometry),
        "black": int((ours == 0).all(axis=2).sum()),
    }


def test_every_shared_face_is_cut_as_dlib_cuts_it(finder: Finder, shared_data: Path) -> None:
    results = []
    for folder in ("enroll", "probe", "photos", "video"):
        for path in sorted((shared_data / folder).rglob("*")):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                image = _rgb(path)
                results += [(path.name, _difference(image, shape)) for shape in finder(image)]
    for name, result in results:
        print(f"{name}: {result}")
    assert len(results) >= 20
    assert all(result["max"] == 0 for _, result in results), results
    # Some of them are shrunk through dlib's pyramid first, and the crop it builds the pyramid on.
    assert any(result["levels"] >= 1 for _, result in results)


@pytest.fixture(scope="module")
def obama(finder: Finder, shared_data: Path) -> tuple[np.ndarray, Any]:
    image = _rgb(shared_data / "probe" / "obama1.jpg")
    [shape] = finder(image)
    return image, shape


@pytest.mark.parametrize(
    "cut",
    ["left and top", "right and bottom", "right and bottom, one pixel more", "tight", "tight, shifted"],
)
def test_faces_cut_by_the_image_edge_match(obama: tuple[np.ndarray, Any], cut: str) -> None:
    image, shape = obama
    rect = shape.rect
    third_w, third_h = rect.width() // 3, rect.height() // 3
    # Crops on both sides at both parities, since the pyramid's pixel grid starts at its crop's corner.
    top, bottom, left, right = {
        "left and top": (rect.top() + third_h, None, rect.left() + third_w, None),
        "right and bottom": (0, rect.bottom() - third_h, 0, rect.right() - third_w),
        "right and bottom, one pixel more": (0, rect.bottom() - third_h + 1, 0, rect.right() - third_w + 1),
        "tight": (rect.top(), rect.bottom(), rect.left(), rect.right()),
        "tight, shifted": (rect.top() + 1, rect.bottom() + 1, rect.left() + 1, rect.right() + 1),
    }[cut]
    crop = np.ascontiguousarray(image[top:bottom, left:right])
    moved = _shape(_points(shape) - np.array([left, top], dtype=np.float64))
    result = _difference(crop, moved)
    assert result["max"] == 0, result
    assert result["black"] > 1000, result  # the chip really reaches outside the crop
    assert result["levels"] == 1, result


@pytest.mark.parametrize("degrees", [20, -25, 30])
def test_turned_faces_match(obama: tuple[np.ndarray, Any], finder: Finder, degrees: int) -> None:
    image, _ = obama
    height, width = image.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    turned = cv2.warpAffine(image, turn, (width, height))
    shapes = finder(turned)
    assert shapes
    for shape in shapes:
        result = _difference(turned, shape)
        assert result["max"] == 0, result
    angle = np.degrees(face_chip_geometry(_points(shapes[0]), size=SIZE, padding=PADDING).angle)
    assert abs(abs(angle) - abs(degrees)) < 8  # the chip really is turned


def test_tiny_faces_match(finder: Finder, shared_data: Path) -> None:
    for name in ("obama-240p.jpg", "obama_small.jpg"):
        image = _rgb(shared_data / "photos" / name)
        [shape] = finder(image)
        left, _, right, _ = face_chip_geometry(_points(shape), size=SIZE, padding=PADDING).rect
        assert right - left + 1 < SIZE  # the chip enlarges the face
        result = _difference(image, shape)
        assert result["max"] == 0 and result["levels"] == 0, result


@pytest.mark.parametrize(("scale", "levels"), [(2.0, 2), (3.0, 3)])
def test_huge_faces_go_down_dlibs_pyramid(obama: tuple[np.ndarray, Any], scale: float, levels: int) -> None:
    image, shape = obama
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    result = _difference(big, _shape(_points(shape) * scale))
    assert result["levels"] == levels
    assert result["max"] == 0, result


@pytest.mark.parametrize(
    ("size", "padding"), [(151, 0.25), (64, 0.2), (200, 0.0), (80, 0.5), (33, 0.25), (150, 0.4)]
)
def test_other_sizes_and_paddings_match(obama: tuple[np.ndarray, Any], size: int, padding: float) -> None:
    # Odd sizes place the rect as even ones do; padding 0.4 is not exact in a C float (get_face_chip's).
    image, shape = obama
    result = _difference(image, shape, size, padding)
    assert result["max"] == 0, result


def test_random_placements_match(shared_data: Path) -> None:
    """Faces of 8 to 1500 px anywhere in and around a photo, at any angle, for several chip sizes."""
    generator = np.random.default_rng(1)
    image = _rgb(shared_data / "probe" / "obama_and_biden.jpg")[:900, :1300]
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    template = FACE_TEMPLATE[:, 0] + 1j * FACE_TEMPLATE[:, 1]
    levels = set()
    for _ in range(60):
        scale = float(np.exp(generator.uniform(np.log(8), np.log(1500))))
        turn = np.exp(1j * generator.uniform(-np.pi, np.pi))
        centre = complex(generator.uniform(-0.3, 1.3) * width, generator.uniform(-0.3, 1.3) * height)
        noise = generator.normal(0, 0.05 * scale, 5) + 1j * generator.normal(0, 0.05 * scale, 5)
        face = (template - template.mean()) * scale * turn + centre + noise
        points = np.round(np.stack([face.real, face.imag], axis=1))
        size = int(generator.choice([150, 151, 64, 33]))
        padding = float(generator.choice([0.25, 0.0, 0.4]))
        result = _difference(image, _shape(points), size, padding)
        levels.add(result["levels"])
        assert result["max"] == 0, (points.tolist(), size, padding, result)
    assert {0, 1, 2, 3} <= levels


def test_degenerate_faces_and_images_match() -> None:
    """Images of a few pixels, faces of a few pixels or all five points on one spot, chips of 2 pixels."""
    generator = np.random.default_rng(9)
    for _ in range(300):
        height, width = (int(n) for n in generator.integers(1, 40, 2))
        image = generator.integers(0, 256, (height, width, 3), dtype=np.uint8)
        if generator.random() < 0.5:
            points = generator.integers(-20, 60, (5, 2))
        else:
            spot = np.repeat(generator.integers(-5, 45, (1, 2)), 5, axis=0)
            points = spot + generator.integers(0, 3, (5, 2))
        size = int(generator.integers(2, 30))
        padding = float(generator.choice([0.0, 0.25, 1.0]))
        theirs = dlib.get_face_chip(image, _shape(points.astype(np.float64)), size=size, padding=padding)
        np.testing.assert_array_equal(extract_face_chip(image, points, size=size, padding=padding), theirs)


def test_the_geometry_is_get_face_chip_details() -> None:
    generator = np.random.default_rng(4)
    for _ in range(100):
        points = np.round(generator.uniform(0, 2000, 2) + generator.normal(0, 300, (5, 2)))
        size = int(generator.integers(2, 300))
        padding = float(generator.uniform(0, 1))
        details = dlib.get_face_chip_details(_shape(points), size, padding)
        geometry = face_chip_geometry(points, size=size, padding=padding)
        rect = details.rect
        np.testing.assert_allclose(
            geometry.rect, (rect.left(), rect.top(), rect.right(), rect.bottom()), rtol=0, atol=1e-9
        )
        assert geometry.angle == pytest.approx(details.angle, abs=1e-12)
        assert (details.rows, details.cols) == (size, size)


def test_the_template_is_what_dlib_implies() -> None:
    from tests.unit.dlib_chip_template_fit import fit_template

    template, residual = fit_template(0.25, shapes=60)
    assert residual < 1e-9
    np.testing.assert_allclose(template, FACE_TEMPLATE, rtol=0, atol=1e-12)


def test_the_positions_are_dlibs() -> None:
    """Where each chip pixel samples, read off coordinate ramps (a bilinear sample of a ramp is its own
    position), for a turned, non-square-ratio placement that needs no pyramid."""
    height, width = 400, 500
    ramp_x = np.tile(np.arange(width, dtype=np.float64), (height, 1))
    ramp_y = np.tile(np.arange(height, dtype=np.float64)[:, None], (1, width))
    geometry = ChipGeometry(rect=(100.3, 120.7, 200.1, 220.5), angle=0.3, size=151)
    assert pyramid_levels(geometry) == 0
    details = dlib.chip_details(dlib.drectangle(*geometry.rect), dlib.chip_dims(151, 151), geometry.angle)
    x, y = geometry.positions()
    np.testing.assert_allclose(dlib.extract_image_chip(ramp_x, details), x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(dlib.extract_image_chip(ramp_y, details), y, rtol=0, atol=1e-9)
    np.testing.assert_allclose(geometry.corners()[0], (x[0, 0], y[0, 0]))


@pytest.mark.parametrize(
    "shape", [(61, 83, 3), (10, 11, 3), (200, 101, 3), (9, 9, 3), (8, 40, 3), (40, 8, 3), (30, 31)]
)
def test_pyramid_down_is_dlibs(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    theirs = np.asarray(dlib.pyramid_down(2)(image))
    ours = pyramid_down(image)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_pyramid_levels_are_dlibs() -> None:
    """dlib's level, read off a ramp: each level moves the samples by -0.5 (x) and +0.5 (y) times
    2^levels - 1 pixels; widths straddle the thresholds for chips of 40 and 151 pixels."""
    height = width = 2600
    ramp_x = np.tile(np.arange(width, dtype=np.float64), (height, 1))
    for size in (40, 151):
        for side in (2 * size - 1, 2 * size - 0.5, 4 * size - 3, 4 * size - 2.5, 8 * size - 7, 8 * size - 6):
            rect = (300.3, 200.7, 300.3 + side - 1, 200.7 + side - 1)
            geometry = ChipGeometry(rect=rect, angle=0.0, size=size)
            details = dlib.chip_details(dlib.drectangle(*geometry.rect), dlib.chip_dims(size, size), 0.0)
            shift = float(np.mean(dlib.extract_image_chip(ramp_x, details) - geometry.positions()[0]))
            assert pyramid_levels(geometry) == round(np.log2(1 - 2 * shift)), (size, side, shift)


def test_a_chip_outside_the_image_is_black_and_bad_input_is_refused() -> None:
    image = np.full((50, 60, 3), 200, dtype=np.uint8)
    far = np.array([[1000, 1000], [990, 1000], [960, 1000], [970, 1000], [980, 1020]], dtype=np.float64)
    assert not extract_face_chip(image, far).any()
    assert not np.asarray(dlib.get_face_chip(image, _shape(far))).any()
    with pytest.raises(ValueError, match="RGB uint8"):
        extract_face_chip(image[:, :, 0], far)
    with pytest.raises(ValueError, match=r"\[5, 2\]"):
        face_chip_geometry(far[:4], size=SIZE, padding=PADDING)
