"""Align a detected face into dlib's chip geometry from the detector's 5 landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Where our detector's 5 landmarks (image-left eye, image-right eye, nose tip, image-left mouth corner,
# image-right mouth corner; MTCNN ONet points) fall in dlib's normalised, unpadded face-chip frame.
# Fitted, not copied: on the real faces of ../shared/data (enroll, probe, photos), each face's dlib
# chip (shape_predictor_5_face_landmarks on the dlib CNN detection, get_face_chip_details(size=150,
# padding=0.25)) gives the chip's rectangle and angle; our landmarks were mapped into that chip,
# normalised with the inverse of template_points' formula, and averaged over the 23 faces.
# tests/unit/alignment_template_fit.py re-fits them (`python tests/unit/alignment_template_fit.py`).
TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.221115, 0.199887),
    (0.757890, 0.198107),
    (0.493231, 0.518411),
    (0.235074, 0.774134),
    (0.756325, 0.768514),
)
# Downsampling by more than this in one bilinear warp aliases (dlib shrinks through a pyramid instead);
# larger reductions first area-resize the face's region. On the same faces this cut the worst descriptor
# distance between dlib's geometry warped by cv2 and dlib's own chip from 0.106 to 0.075.
MAX_WARP_REDUCTION = 2.0


def template_points(size: int, padding: float, template: npt.ArrayLike = TEMPLATE) -> FloatArray:
    """TEMPLATE in chip pixel coordinates (pixel centres at integers).

    dlib maps a normalised point x to (x + padding) / (1 + 2 * padding) * (size - 1): measured by
    extracting chips of a coordinate ramp image, normalised positions agree across sizes only with
    size - 1, since dlib's chip rectangle spans the centres of the first and last pixels."""
    points = np.asarray(template, dtype=np.float64)
    return (points + padding) / (1.0 + 2.0 * padding) * (size - 1)


def umeyama(source: FloatArray, target: FloatArray) -> FloatArray:
    """Least-squares similarity transform (rotation, uniform scale, translation; no reflection) taking
    source points [N, 2] onto target points [N, 2], as a 2x3 matrix (Umeyama 1991)."""
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2 or len(source) < 2:
        raise ValueError(f"need two matching [N, 2] point sets, got {source.shape} and {target.shape}")
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - source_mean, target - target_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    # Forbid reflections: a mirrored face is not the same face.
    sign = np.diag([1.0, float(np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0)])
    rotation = u @ sign @ vt
    variance = float((src**2).sum() / len(source))
    if variance == 0.0:
        raise ValueError("source points are all identical")
    scale = float(np.trace(np.diag(singular) @ sign)) / variance
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def alignment_transform(
    landmarks: npt.ArrayLike, *, size: int, padding: float, template: npt.ArrayLike = TEMPLATE
) -> FloatArray:
    """The 2x3 image-to-chip matrix for one face's 5 landmarks [5, 2] (x, y input pixels)."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"landmarks must be [5, 2], got {points.shape}")
    return umeyama(points, template_points(size, padding, template))


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    size: int,
    padding: float,
    template: npt.ArrayLike = TEMPLATE,
) -> np.ndarray:
    """A size x size uint8 RGB chip of the face, in dlib's get_face_chip geometry.

    Bilinear warp; pixels outside the image are black, as in dlib's chips. `template` (normalised
    points [5, 2]) is only for re-fitting the constants."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
    if size < 2 or padding < 0:
        raise ValueError(f"size must be >= 2 and padding >= 0, got {size} and {padding}")
    matrix = alignment_transform(landmarks, size=size, padding=padding, template=template)
    source, matrix = _reduced_source(image, matrix, size)
    chip = cv2.warpAffine(
        source, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return np.ascontiguousarray(chip, dtype=np.uint8)


def _reduced_source(image: np.ndarray, matrix: FloatArray, size: int) -> tuple[np.ndarray, FloatArray]:
    """The image region the chip covers, area-resized so the warp reduces by at most MAX_WARP_REDUCTION,
    with the matrix adjusted to it; the image itself when no such reduction is needed."""
    chip_per_pixel = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = chip_per_pixel * MAX_WARP_REDUCTION
    if factor >= 1.0:
        return image, matrix
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], dtype=np.float64)
    covered = corners @ inverse[:, :2].T + inverse[:, 2]
    # A margin of two reduced pixels keeps the crop edge out of the bilinear taps.
    margin = 2.0 / factor + 1.0
    x0, y0 = np.maximum(np.floor(covered.min(axis=0) - margin), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(covered.max(axis=0) + margin), [image.shape[1], image.shape[0]]).astype(int)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, matrix  # the chip lies outside the image: nothing to shrink
    width, height = max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))
    reduced = cv2.resize(image[y0:y1, x0:x1], (width, height), interpolation=cv2.INTER_AREA)
    fx, fy = width / (x1 - x0), height / (y1 - y0)
    # Reduced pixel centre u sits at crop coordinate (u + 0.5) / f - 0.5.
    to_image = np.array([[1 / fx, 0, 0.5 / fx - 0.5 + x0], [0, 1 / fy, 0.5 / fy - 0.5 + y0]])
    linear = matrix[:, :2] @ to_image[:, :2]
    offset = matrix[:, :2] @ to_image[:, 2] + matrix[:, 2]
    return reduced, np.hstack([linear, offset[:, None]])
