"""Face chips cut exactly as dlib's get_face_chip cuts them, from dlib's 5 points, with numpy and OpenCV.

Every rule below was measured through the dlib Python module (tests/unit/test_dlib_chip.py compares
chips pixel for pixel), not read from its source:
- where the chip lies: a least-squares similarity transform takes FACE_TEMPLATE (normalised, padded,
  times the chip size) onto the 5 points; the chip's centre pixel (size - 1) / 2 lands where that
  transform takes (size // 2, size // 2), and one chip pixel spans (size * scale - 1) / (size - 1)
  image pixels (measured with coordinate-ramp images, whose bilinear samples are their own positions:
  this model fits dlib's placement to 1e-12 px);
- when the face region is more than twice the chip's size, the image is first shrunk by a pyramid:
  each level keeps pixel 2 i + 2 of the one below, filtered by [1 4 6 4 1] / 16 in both directions,
  rounded down, (n - 3) // 2 pixels wide (impulse and ramp images through dlib.pyramid_down(2)); but
  positions are carried down the levels as x / 2 - 1.25 and y / 2 - 0.75 (its point_down), a quarter
  pixel off the pixels' own positions, and the chip inherits that shift;
- the pyramid is built on a crop of the image around the face (the rotated chip rectangle grown by 2,
  6, 14... pixels, one step per level), so its pixel grid starts at that crop's corner;
- samples are bilinear in float64, rounded down to uint8; a sample whose 2x2 neighbourhood is not
  wholly inside the image (or the crop) is black.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# dlib's 5 points (image-right eye outer and inner corner, image-left eye outer and inner corner, below
# the nose) in the unpadded, normalised chip. Measured: a least-squares fit of the placement model above
# to dlib.get_face_chip_details over random shapes recovers these to 1e-7 with residuals of 1e-12 px
# (tests/unit/dlib_chip_template_fit.py).
FACE_TEMPLATE = np.array(
    [
        [0.8595675, 0.2134982],
        [0.6460605, 0.2289674],
        [0.1205751, 0.2137275],
        [0.3340851, 0.2290642],
        [0.4901123, 0.6277975],
    ]
)
PYRAMID_KERNEL = np.array([1, 4, 6, 4, 1], dtype=np.float32)  # sums to 16 per direction
POINT_DOWN_SHIFT = np.array([1.25, 0.75])  # x, y: the pyramid's position map, p / 2 - shift
FIRST_GROW = 2.0  # pixels around the rotated chip rectangle at level 0; each level doubles it, plus 2


@dataclass(frozen=True)
class ChipPlacement:
    """Where a chip lies: its rectangle (left, top, right, bottom, float) before rotation and the angle."""

    rectangle: np.ndarray
    angle: float
    size: int

    def corners(self, rectangle: np.ndarray | None = None) -> np.ndarray:
        """The rotated corners [4, 2] of `rectangle` (default: the chip's): tl, tr, bl, br."""
        left, top, right, bottom = self.rectangle if rectangle is None else rectangle
        centre = np.array([(left + right) / 2.0, (top + bottom) / 2.0])
        points = np.array([[left, top], [right, top], [left, bottom], [right, bottom]]) - centre
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        rotated: np.ndarray = points @ np.array([[cos, sin], [-sin, cos]]) + centre
        return rotated


def face_chip_placement(points5: np.ndarray, *, size: int, padding: float) -> ChipPlacement:
    """Where dlib puts the chip of a face with these 5 points [5, 2] (x, y image pixels)."""
    points = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    template = (padding + FACE_TEMPLATE) / (2.0 * padding + 1.0) * size
    source = template[:, 0] + 1j * template[:, 1]
    target = points[:, 0] + 1j * points[:, 1]
    centred = source - source.mean()
    spread = float((np.abs(centred) ** 2).sum())
    # In 2-D the best similarity without reflection is one complex factor and one complex offset.
    factor = complex((np.conj(centred) * (target - target.mean())).sum() / spread)
    offset = complex(target.mean() - factor * source.mean())
    centre = factor * complex(size // 2, size // 2) + offset
    half = (size * abs(factor) - 1.0) / 2.0
    rectangle = np.array([centre.real - half, centre.imag - half, centre.real + half, centre.imag + half])
    return ChipPlacement(rectangle=rectangle, angle=float(np.angle(factor)), size=size)


def extract_face_chip(
    image: np.ndarray, points5: np.ndarray, *, size: int = 150, padding: float = 0.25
) -> np.ndarray:
    """The size x size uint8 RGB chip of the face with dlib's 5 points, as dlib.get_face_chip cuts it."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    if size < 2 or padding < 0:
        raise ValueError(f"size must be >= 2 and padding >= 0, got {size} and {padding}")
    placement = face_chip_placement(points5, size=size, padding=padding)
    depth, grow = _pyramid_depth(placement.rectangle, size)
    crop = _crop_box(placement, grow, image.shape[:2])
    if crop is None:
        return np.zeros((size, size, 3), dtype=np.uint8)
    x0, y0, x1, y1 = crop
    source = image[y0 : y1 + 1, x0 : x1 + 1]
    rectangle = placement.rectangle - np.array([x0, y0, x0, y0], dtype=np.float64)
    level = -1
    while _area(_rect_down(rectangle)) > size * size:
        level += 1
        rectangle = _rect_down(rectangle)
    for _ in range(min(level, depth - 1) + 1):
        source = pyramid_down(source)
    corners = placement.corners(rectangle)
    return _bilinear(source, corners[0], corners[1], corners[2], size)


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One level of dlib's pyramid_down<2>: pixel i of the result filters pixels 2i..2i+4 of the input."""
    height, width = image.shape[:2]
    rows, columns = (height - 3) // 2, (width - 3) // 2
    if rows < 1 or columns < 1:
        return np.zeros((max(rows, 0), max(columns, 0), *image.shape[2:]), dtype=image.dtype)
    # float32 holds every sum exactly (at most 255 * 256), so OpenCV's separable filter gives dlib's
    # integer result; only pixels whose 5x5 window lies inside the image are kept, so borders never count.
    filtered = cv2.sepFilter2D(image.astype(np.float32), cv2.CV_32F, PYRAMID_KERNEL, PYRAMID_KERNEL)
    kept = filtered[2 : 2 + 2 * rows : 2, 2 : 2 + 2 * columns : 2]
    level: np.ndarray = np.floor(kept / 256.0).astype(image.dtype)
    return level


def _area(rectangle: np.ndarray) -> float:
    # dlib's rectangles include both edges: a width is right - left + 1.
    return float((rectangle[2] - rectangle[0] + 1.0) * (rectangle[3] - rectangle[1] + 1.0))


def _rect_down(rectangle: np.ndarray) -> np.ndarray:
    shift = np.tile(POINT_DOWN_SHIFT, 2)
    lower: np.ndarray = np.asarray(rectangle, dtype=np.float64) / 2.0 - shift
    return lower


def _pyramid_depth(rectangle: np.ndarray, size: int) -> tuple[int, float]:
    """Pyramid levels needed below the image, and the margin the crop around the face keeps."""
    depth, grow = 0, FIRST_GROW
    current = _rect_down(rectangle)
    while _area(current) > size * size:
        current = _rect_down(current)
        depth += 1
        grow = grow * 2.0 + 2.0
    return depth, grow


def _crop_box(
    placement: ChipPlacement, grow: float, shape: tuple[int, ...]
) -> tuple[int, int, int, int] | None:
    """The crop (inclusive integer corners) the pyramid is built on; None when it misses the image."""
    corners = placement.corners()
    low, high = corners.min(axis=0) - grow, corners.max(axis=0) + grow
    x0, y0 = (int(v) for v in np.floor(low + 0.5))
    x1, y1 = (int(v) for v in np.floor(high + 0.5))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, shape[1] - 1), min(y1, shape[0] - 1)
    return None if x1 < x0 or y1 < y0 else (x0, y0, x1, y1)


def _bilinear(
    source: np.ndarray, top_left: np.ndarray, top_right: np.ndarray, bottom_left: np.ndarray, size: int
) -> np.ndarray:
    """Chip pixel (c, r) samples the source at top_left + c * across + r * down (bilinear, float64)."""
    across = (top_right - top_left) / (size - 1)
    down = (bottom_left - top_left) / (size - 1)
    r, c = np.mgrid[0:size, 0:size].astype(np.float64)
    x = top_left[0] + c * across[0] + r * down[0]
    y = top_left[1] + c * across[1] + r * down[1]
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    height, width = source.shape[:2]
    inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
    left, top = np.where(inside, left, 0), np.where(inside, top, 0)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    if height < 2 or width < 2:
        return np.zeros((size, size, 3), dtype=np.uint8)
    right, bottom = np.minimum(left + 1, width - 1), np.minimum(top + 1, height - 1)
    flat = source.reshape(-1, source.shape[2])
    # Flat-index gathers are several times cheaper than 2-D fancy indexing on a large crop.
    corner = [
        flat.take((v * width + u).ravel(), axis=0)
        for v, u in ((top, left), (top, right), (bottom, left), (bottom, right))
    ]
    fx, fy = fx.reshape(-1, 1), fy.reshape(-1, 1)
    upper = (1.0 - fx) * corner[0] + fx * corner[1]
    lower = (1.0 - fx) * corner[2] + fx * corner[3]
    value = (1.0 - fy) * upper + fy * lower
    chip: np.ndarray = np.clip(np.floor(value), 0, 255).astype(np.uint8).reshape(size, size, -1)
    chip[~inside] = 0
    return chip
