"""Alignment of detected faces into dlib's chip geometry: generated geometry and real faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from amyplant_faces.pipeline.alignment import (
    TEMPLATE,
    align_face,
    alignment_transform,
    template_points,
    umeyama,
)

REFIT_TOLERANCE = 0.005  # normalised chip units, about 0.5 px of a 150 px chip
MAX_DESCRIPTOR_DISTANCE = 0.3  # our chip vs dlib's chip of the same face (measured max 0.21)
MEDIAN_DESCRIPTOR_DISTANCE = 0.16  # measured 0.12


def similarity(scale: float, angle: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, shift[0]], [scale * s, scale * c, shift[1]]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points @ matrix[:, :2].T + matrix[:, 2], dtype=np.float64)


def test_umeyama_recovers_a_known_similarity() -> None:
    rng = np.random.default_rng(3)
    source = rng.uniform(0, 100, (5, 2))
    truth = similarity(1.7, 0.4, (12.0, -5.0))
    np.testing.assert_allclose(umeyama(source, apply(truth, source)), truth, atol=1e-9)


def test_umeyama_is_least_squares_under_noise_and_never_reflects() -> None:
    rng = np.random.default_rng(4)
    source = rng.uniform(0, 100, (50, 2))
    truth = similarity(0.5, -1.2, (3.0, 40.0))
    noisy = apply(truth, source) + rng.normal(0, 0.5, source.shape)
    fitted = umeyama(source, noisy)
    np.testing.assert_allclose(fitted[:, :2], truth[:, :2], atol=0.01)
    np.testing.assert_allclose(fitted[:, 2], truth[:, 2], atol=0.5)
    mirrored = source * [-1, 1]
    assert np.linalg.det(umeyama(source, mirrored)[:, :2]) > 0


def test_template_is_ordered_like_the_landmarks() -> None:
    left_eye, right_eye, nose, left_mouth, right_mouth = np.asarray(TEMPLATE)
    assert left_eye[0] < nose[0] < right_eye[0] and left_mouth[0] < nose[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


@pytest.mark.parametrize(("size", "padding"), [(150, 0.25), (64, 0.2), (100, 0.0)])
def test_template_points_follow_size_and_padding(size: int, padding: float) -> None:
    points = template_points(size, padding)
    unpadded = template_points(size, 0.0)
    np.testing.assert_allclose(unpadded, np.asarray(TEMPLATE) * (size - 1))
    # Padding shrinks the face about the chip centre by 1 / (1 + 2 padding).
    centre = np.full(2, (size - 1) / 2)
    np.testing.assert_allclose(points - centre, (unpadded - centre) / (1 + 2 * padding), atol=1e-9)


def dotted_image(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Black image with a smooth bright blob at each landmark (blobs survive resampling)."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    image = np.zeros((*shape, 3), np.float64)
    for channel, (x, y) in zip([0, 1, 2, 0, 1], landmarks, strict=True):
        image[..., channel] += 255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 6.0**2))
    return np.clip(image, 0, 255).astype(np.uint8)


def blob_centre(chip: np.ndarray, channel: int, near: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0 : chip.shape[0], 0 : chip.shape[1]]
    window = (np.abs(xs - near[0]) < 6) & (np.abs(ys - near[1]) < 6)
    weights = chip[..., channel].astype(np.float64) * window
    centre = np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()
    return np.asarray(centre, dtype=np.float64)


@pytest.mark.parametrize(("size", "padding", "scale"), [(150, 0.25, 3.0), (64, 0.2, 5.0), (150, 0.25, 0.8)])
def test_chip_puts_the_landmarks_on_the_template(size: int, padding: float, scale: float) -> None:
    """A face placed by a known similarity is warped back so its landmarks land on the template."""
    target = template_points(size, padding)
    placement = similarity(scale, 0.3, (40.0, 25.0))  # chip -> image
    landmarks = apply(placement, target)
    shape = (int(landmarks[:, 1].max() + 80), int(landmarks[:, 0].max() + 80))
    chip = align_face(dotted_image(landmarks, shape), landmarks, size=size, padding=padding)
    assert chip.shape == (size, size, 3) and chip.dtype == np.uint8
    np.testing.assert_allclose(
        alignment_transform(landmarks, size=size, padding=padding)[:, :2] * scale,
        similarity(1.0, -0.3, (0, 0))[:, :2],
        atol=1e-9,
    )
    # Blobs are 6 px wide in the image; only their centres matter (two may share a channel).
    for index in (0, 1, 2):
        found = blob_centre(chip, index, target[index])
        assert np.linalg.norm(found - target[index]) < 0.35, index


def test_area_reduction_matches_a_plain_warp_on_smooth_content() -> None:
    landmarks = apply(similarity(6.0, 0.1, (100.0, 80.0)), template_points(64, 0.2))
    ys, xs = np.mgrid[0:900, 0:900].astype(np.float64)
    smooth = np.stack([xs / 4, ys / 4, (xs + ys) / 8], axis=-1).clip(0, 255).astype(np.uint8)
    chip = align_face(smooth, landmarks, size=64, padding=0.2)
    plain = cv2.warpAffine(smooth, alignment_transform(landmarks, size=64, padding=0.2), (64, 64))
    assert np.abs(chip.astype(int) - plain.astype(int))[2:-2, 2:-2].max() <= 2


def test_bad_inputs_are_rejected() -> None:
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError):
        align_face(image, np.zeros((4, 2)), size=150, padding=0.25)
    with pytest.raises(ValueError):
        align_face(image.astype(np.float32), np.asarray(TEMPLATE) * 10, size=150, padding=0.25)
    with pytest.raises(ValueError):
        umeyama(np.ones((5, 2)), np.zeros((5, 2)))


def test_real_faces_match_dlib_chips(shared_data: Path) -> None:
    """Re-fit the template on real faces and compare dlib descriptors of our chips with dlib's chips."""
    from tests.unit.alignment_template_fit import collect_faces, compare_descriptors, fit_template

    faces = collect_faces(shared_data)
    assert len(faces) >= 20
    assert np.abs(fit_template(faces) - np.asarray(TEMPLATE)).max() < REFIT_TOLERANCE
    figures = compare_descriptors(faces)
    print(figures)
    assert figures["median_distance"] < MEDIAN_DESCRIPTOR_DISTANCE
    assert figures["max_distance"] < MAX_DESCRIPTOR_DISTANCE
    assert figures["pairs"] > 0 and figures["decision_flips"] == []
