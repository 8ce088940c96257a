"""Face chips cut as dlib.get_face_chip cuts them, from dlib's 5 landmarks, with numpy and OpenCV only.

Every rule here was measured through the dlib Python module (dlib-bin 20.0), never read from its source;
tests/unit/dlib_chip_template_fit.py re-measures the template and the placement, and
tests/unit/test_dlib_chip.py compares whole chips with dlib.get_face_chip pixel for pixel (identical on every
face of the shared photos, cut, turned, tiny and pyramid-sized faces, and random placements).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ByteImage = npt.NDArray[np.uint8]
Rect = tuple[float, float, float, float]  # left, top, right, bottom

# dlib's 5-point face template in the unpadded unit square (x right, y down): image-right eye outer and
# inner corner, image-left eye outer and inner corner, below the nose. Measured: the chip placement is a
# least-squares similarity from the template to the points, so its complex scale-and-rotation factor
# A = rect.width() * exp(1j * angle) is a complex-linear function sum(w_i * p_i) of the points; a linear
# fit of A over 200 random integer shapes (dlib.get_face_chip_details at paddings 0, 0.25 and 0.6) gives
# the weights w_i (residual 3e-11 px), the centred template is conj(w_i) / sum(|w|^2) and the rect's centre
# puts the unit square's centre at the image point (rect.left + rect.right) / 2; the three paddings agree
# to 1e-15, and every number ends after 13 decimals (tests/unit/dlib_chip_template_fit.py prints the fit).
FACE_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
# dlib.pyramid_down(2) on impulse and random images: output pixel i is the [1 4 6 4 1] x [1 4 6 4 1]
# weighted sum of input pixels 2i..2i+4 (so centred on input 2i + 2), divided by 256 and rounded down
# for uint8, (n - 3) // 2 pixels per side, and an empty image when either side is under 9 pixels.
PYRAMID_MIN_SIDE = 9
# ... but its point_down, which the chip extraction uses to carry positions down a level, maps x to
# x / 2 - 1.25 and y to y / 2 - 0.75, a quarter pixel either side of the pixels' true x / 2 - 1: every
# level moves the samples by -0.5 and +0.5 level-0 pixels times 2^level - 1 (float ramp images confirm).
POINT_DOWN_SHIFT = np.array([1.25, 0.75])


@dataclass(frozen=True)
class ChipGeometry:
    """Where a chip lies in the image: dlib's chip_details, a rectangle turned by an angle about its centre.

    rect is (left, top, right, bottom) in image pixels, like dlib's drectangle: its width is
    right - left + 1, and the chip's first and last pixels sample exactly at its left and right edges."""

    rect: Rect
    angle: float  # radians; positive turns the chip's x axis from image-right towards image-down
    size: int

    def positions(self, rect: Rect | None = None) -> tuple[FloatArray, FloatArray]:
        """The x and y image positions [size, size] each chip pixel samples (of `rect`, default this one).

        Measured with float coordinate-ramp images (a bilinear sample of a ramp is its own position) through
        dlib.extract_image_chip: pixel (c, r) samples left + c (right - left) / (size - 1) and likewise in y,
        turned by the angle about the rectangle's centre; this matches to 1e-13 px."""
        left, top, right, bottom = self.rect if rect is None else rect
        centre_x, centre_y = (left + right) / 2.0, (top + bottom) / 2.0
        steps = np.arange(self.size, dtype=np.float64) / (self.size - 1)
        across = left + steps * (right - left) - centre_x
        down = top + steps * (bottom - top) - centre_y
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        x = centre_x + cos * across[None, :] - sin * down[:, None]
        y = centre_y + sin * across[None, :] + cos * down[:, None]
        return x, y

    def corners(self) -> FloatArray:
        """The chip's corner samples [4, 2]: top-left, top-right, bottom-left, bottom-right (x, y)."""
        x, y = self.positions()
        return np.array([[x[i, j], y[i, j]] for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1))])


def face_chip_geometry(points5: npt.ArrayLike, *, size: int, padding: float) -> ChipGeometry:
    """dlib.get_face_chip_details for a face with dlib's 5 points [5, 2] (x, y image pixels)."""
    points = np.asarray(points5, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"points5 must be [5, 2], got {points.shape}")
    if size < 2 or padding < 0:
        raise ValueError(f"size must be >= 2 and padding >= 0, got {size} and {padding}")
    # The padded template in the unit square. The rect came out identical for chip sizes 40, 150 and 151:
    # the size only picks how densely the rect is sampled, never where it lies.
    unit = (FACE_TEMPLATE + padding) / (1.0 + 2.0 * padding)
    source = unit[:, 0] + 1j * unit[:, 1]
    target = points[:, 0] + 1j * points[:, 1]
    centred = source - source.mean()
    # In 2-D the least-squares similarity without reflection is one complex factor and one offset.
    factor = complex((np.conj(centred) * (target - target.mean())).sum() / (np.abs(centred) ** 2).sum())
    centre = target.mean() + factor * (complex(0.5, 0.5) - source.mean())
    half = (abs(factor) - 1.0) / 2.0  # rect.width() is |factor|, and a drectangle's width counts +1
    rect = (centre.real - half, centre.imag - half, centre.real + half, centre.imag + half)
    return ChipGeometry(rect=rect, angle=float(np.angle(factor)), size=size)


def pyramid_down(image: np.ndarray) -> np.ndarray:
    """One level of dlib's pyramid_down(2) of a uint8 image, grey or colour (see PYRAMID_MIN_SIDE)."""
    level = _pyramid_level(image.astype(np.float32, copy=False))
    return level.astype(image.dtype)


def pyramid_levels(geometry: ChipGeometry) -> int:
    """How many pyramid levels dlib shrinks the image by before it samples the chip.

    Measured with ramp images (each level shifts the samples as POINT_DOWN_SHIFT says) over rect widths
    and heights near the thresholds, for chip sizes 40, 150 and 151: dlib takes rect_down (point_down of
    both corners) while the shrunk rect's area, (right - left + 1) (bottom - top + 1), exceeds size^2."""
    rect, levels = geometry.rect, 0
    while _area(_rect_down(rect)) > geometry.size * geometry.size:
        rect, levels = _rect_down(rect), levels + 1
    return levels


def extract_chip(image: np.ndarray, geometry: ChipGeometry) -> ByteImage:
    """The chip at `geometry` of an RGB uint8 image, as dlib.extract_image_chip samples it."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")
    size, levels = geometry.size, pyramid_levels(geometry)
    x, y = geometry.positions()
    source: np.ndarray = image
    if levels:
        # dlib builds the pyramid on a crop around the chip, not the whole image, and the crop's corner
        # fixes which pixels each level keeps. Measured with images that vary along one axis only, over
        # chip placements 0.25 px apart near the image's edge: the crop starts at round(min) - margin of
        # the samples' x and y (clipped at 0), margin = 2^(levels + 2) - 2 (6, 14, 30 for 1, 2, 3 levels).
        # Which way a start of exactly n + 0.5 rounds stayed unresolved (x and y disagreed there). The far
        # end only matters where the image clips it: a crop larger than the samples need changes nothing.
        margin = 2 ** (levels + 2) - 2
        low = np.floor(np.array([x.min(), y.min()]) + 0.5).astype(np.int64) - margin
        high = np.floor(np.array([x.max(), y.max()]) + 0.5).astype(np.int64) + margin
        x0, y0 = int(max(low[0], 0)), int(max(low[1], 0))
        x1, y1 = int(min(high[0], image.shape[1] - 1)), int(min(high[1], image.shape[0] - 1))
        if x1 < x0 or y1 < y0:
            return np.zeros((size, size, 3), dtype=np.uint8)
        level = image[y0 : y1 + 1, x0 : x1 + 1].astype(np.float32)
        for _ in range(levels):
            level = _pyramid_level(level)
        source = level
        # Positions follow the rect down the levels (point_down of its corners), relative to the crop.
        left, top, right, bottom = geometry.rect
        rect = (left - x0, top - y0, right - x0, bottom - y0)
        for _ in range(levels):
            rect = _rect_down(rect)
        x, y = geometry.positions(rect)
    return _bilinear(source, x, y)


def extract_face_chip(
    image: np.ndarray, points5: npt.ArrayLike, *, size: int = 150, padding: float = 0.25
) -> ByteImage:
    """dlib.get_face_chip(image, shape, size, padding) for the face with dlib's 5 points [5, 2]."""
    # get_face_chip takes its padding as a C float: at padding 0.4 its chips equal extract_image_chip of
    # get_face_chip_details(shape, size, float32(0.4)), not of 0.4 (exact paddings like 0.25 are unaffected).
    single = float(np.float32(padding))
    return extract_chip(image, face_chip_geometry(points5, size=size, padding=single))


def _pyramid_level(image: np.ndarray) -> np.ndarray:
    """pyramid_down on a float32 image of whole numbers; returns float32 whole numbers."""
    height, width = image.shape[:2]
    rows, columns = (height - 3) // 2, (width - 3) // 2
    if height < PYRAMID_MIN_SIDE or width < PYRAMID_MIN_SIDE:
        return np.zeros((0, 0, *image.shape[2:]), dtype=np.float32)
    # OpenCV's pyrDown filters with the same [1 4 6 4 1] / 16 kernel but centres output j on input 2j, so
    # dlib's pixel i is its pixel i + 1, whose window never reaches the border OpenCV invents. In float32
    # every partial sum of whole numbers up to 255 * 256 is exact, so flooring gives dlib's integer result.
    kept: np.ndarray = cv2.pyrDown(image)[1 : 1 + rows, 1 : 1 + columns]
    np.floor(kept, out=kept)
    return kept


def _rect_down(rect: Rect) -> Rect:
    left, top, right, bottom = rect
    shift_x, shift_y = POINT_DOWN_SHIFT
    return (left / 2.0 - shift_x, top / 2.0 - shift_y, right / 2.0 - shift_x, bottom / 2.0 - shift_y)


def _area(rect: Rect) -> float:
    left, top, right, bottom = rect
    return (right - left + 1.0) * (bottom - top + 1.0)


def _bilinear(source: np.ndarray, x: FloatArray, y: FloatArray) -> ByteImage:
    """Bilinear samples of `source` at (x, y), in float64, rounded down to uint8.

    Measured with uint8 noise and constant images: dlib's value is floor((1 - fy) ((1 - fx) a + fx b)
    + fy ((1 - fx) c + fx d)) in double precision (rounding to nearest is 1 grey level off on a third of
    the pixels). A sample is black unless 0 <= x <= width - 1 and 0 <= y <= height - 1: a sample exactly
    on the last column or row keeps its value, one a hair beyond it is black."""
    size = x.shape
    height, width = source.shape[:2]
    inside = (x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)
    everywhere = bool(inside.all())
    if height == 0 or width == 0 or not (everywhere or inside.any()):
        return np.zeros((*size, 3), dtype=np.uint8)
    if height < 2 or width < 2:
        # A one-pixel-wide image still has samples exactly on it; repeat it so every sample has a right and
        # a lower neighbour, which get weight 0 there.
        source = np.pad(source, ((0, int(height < 2)), (0, int(width < 2)), (0, 0)), mode="edge")
    xs, ys = (x.ravel(), y.ravel()) if everywhere else (x[inside], y[inside])
    stride = source.shape[1]
    # A sample on the last column or row takes that pixel with weight 1 from the one before it.
    left = np.minimum(np.floor(xs), stride - 2).astype(np.intp)
    top = np.minimum(np.floor(ys), source.shape[0] - 2).astype(np.intp)
    fx, fy = xs - left, ys - top
    flat = source.reshape(-1, source.shape[2])
    offsets = np.array([0, 1, stride, stride + 1], dtype=np.intp)
    # The 2x2 neighbourhoods gathered at once as [4, 3, N]: long inner loops make numpy's arithmetic
    # several times faster than on [N, 3], and flat-index gathers beat 2-D fancy indexing on a large image.
    corners = flat.take(offsets[:, None] + (top * stride + left)[None, :], axis=0)
    a, b, c, d = corners.transpose(0, 2, 1).astype(np.float64)
    # (1 - fy) ((1 - fx) a + fx b) + fy ((1 - fx) c + fx d), in this order and in place (fresh arrays of
    # this size cost more in page faults than the arithmetic itself).
    across, down = 1.0 - fx, 1.0 - fy
    a *= across
    b *= fx
    a += b
    c *= across
    d *= fx
    c += d
    a *= down
    c *= fy
    a += c
    value = a
    samples = np.floor(value, out=value).astype(np.uint8).T  # convex weights: never outside 0..255
    if everywhere:
        return np.ascontiguousarray(samples.reshape(*size, 3))
    chip = np.zeros((*size, 3), dtype=np.uint8)
    chip[inside] = samples
    return chip
