"""Measure dlib's face-chip rules through its Python module: the template, the pyramid and the crop.

Run `python tests/unit/dlib_chip_template_fit.py` to print what amyplant_faces.pipeline.dlib_chip's
constants rest on; tests/unit/test_dlib_chip.py calls fit_template to check FACE_TEMPLATE.
"""

from __future__ import annotations

from typing import Any

import dlib
import numpy as np

from amyplant_faces.pipeline import dlib_chip
from amyplant_faces.pipeline.dlib_chip import FACE_TEMPLATE, ChipGeometry

# A rough face (two eyes' corners and the nose) that random shapes are scattered around.
ROUGH_FACE = np.array([(100, 100), (80, 101), (40, 100), (60, 101), (70, 140)], dtype=np.float64)


def shape_of(points: np.ndarray) -> Any:
    """A dlib.full_object_detection with these [5, 2] points (rounded: dlib's parts are integers)."""
    parts = [dlib.point(round(float(x)), round(float(y))) for x, y in points]
    return dlib.full_object_detection(dlib.rectangle(0, 0, 10, 10), parts)


def fit_template(padding: float, shapes: int = 200, seed: int = 0) -> tuple[np.ndarray, float]:
    """The unpadded template [5, 2] that dlib's get_face_chip_details implies, and the fit's residual.

    The chip is a least-squares similarity from the template to the points, so its complex factor
    A = rect.width() * exp(1j * angle) is sum(w_i * p_i), linear in the points (complex x + iy). A linear
    fit of A over random shapes gives w; the centred template is conj(w) / sum(|w|^2), and placing the unit
    square's centre (0.5, 0.5) at the rect's centre fixes where the template sits."""
    generator = np.random.default_rng(seed)
    points, factors, centres = [], [], []
    for _ in range(shapes):
        scattered = (
            ROUGH_FACE * generator.uniform(0.5, 8.0)
            + generator.integers(-30, 30, (5, 2))
            + generator.integers(0, 500, 2)
        )
        scattered = np.round(scattered)
        details = dlib.get_face_chip_details(shape_of(scattered), 150, padding)
        rect = details.rect
        points.append(scattered[:, 0] + 1j * scattered[:, 1])
        factors.append(rect.width() * np.exp(1j * details.angle))
        centres.append(complex((rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2))
    p, a, c = np.array(points), np.array(factors), np.array(centres)
    weights = np.linalg.lstsq(p, a, rcond=None)[0]
    residual = float(np.abs(p @ weights - a).max())
    centred = np.conj(weights) / float((np.abs(weights) ** 2).sum())
    mean = complex((0.5 + 0.5j - (c - p.mean(axis=1)) / a).mean())
    unit = mean + centred
    template = unit * (1.0 + 2.0 * padding) - padding * (1 + 1j)
    return np.stack([template.real, template.imag], axis=1), residual


def pyramid_impulse() -> tuple[np.ndarray, list[tuple[int, tuple[int, ...]]]]:
    """dlib.pyramid_down(2) of a float impulse of 256 at (10, 10), and output shapes for small inputs."""
    down = dlib.pyramid_down(2)
    impulse = np.zeros((21, 21), dtype=np.float32)
    impulse[10, 10] = 256.0
    shapes = [(n, np.asarray(down(np.zeros((n, n), dtype=np.uint8))).shape) for n in range(7, 14)]
    return np.asarray(down(impulse)), shapes


def crop_origin_residue(levels: int, axis: int, low: float, seed: int = 12) -> int | None:
    """Where dlib's pyramid crop starts, modulo 2^levels, for a chip whose samples start at `low`.

    The image varies along one axis only, so only that axis's crop origin matters; every origin is tried
    and the residue of those that reproduce dlib's chip exactly is returned (None if none or several)."""
    generator = np.random.default_rng(seed)
    line = generator.integers(0, 256, 400, dtype=np.uint8)
    image = np.repeat(np.repeat(line[None, :, None], 400, axis=0), 3, axis=2)
    if axis == 1:
        image = np.ascontiguousarray(image.transpose(1, 0, 2))
    size, angle = 20, 0.1
    width = size * 2**levels * 1.3
    corner = 100.0
    square = (corner, corner, corner + width - 1, corner + width - 1)
    geometry = ChipGeometry(rect=square, angle=angle, size=size)
    start = geometry.positions()[axis].min()
    moved = list(geometry.rect)
    moved[axis] += low - start
    moved[axis + 2] += low - start
    geometry = ChipGeometry(rect=(moved[0], moved[1], moved[2], moved[3]), angle=angle, size=size)
    left, top, right, bottom = geometry.rect
    details = dlib.chip_details(dlib.drectangle(left, top, right, bottom), dlib.chip_dims(size, size), angle)
    theirs = np.asarray(dlib.extract_image_chip(image, details))
    residues = set()
    for origin in range(int(low) + 1):
        if np.array_equal(_chip_from_origin(image, geometry, levels, origin, axis), theirs):
            residues.add(origin % 2**levels)
    return residues.pop() if len(residues) == 1 else None


def _chip_from_origin(image: np.ndarray, geometry: ChipGeometry, levels: int, origin: int, axis: int) -> Any:
    offset = [0, 0]
    offset[axis] = origin
    level = image[offset[1] :, offset[0] :].astype(np.float32)
    left, top, right, bottom = geometry.rect
    rect = (left - offset[0], top - offset[1], right - offset[0], bottom - offset[1])
    for _ in range(levels):
        level = dlib_chip._pyramid_level(level)
        rect = dlib_chip._rect_down(rect)
    x, y = geometry.positions(rect)
    return dlib_chip._bilinear(level, x, y)


def main() -> None:
    np.set_printoptions(precision=13, suppress=True)
    for padding in (0.0, 0.25, 0.6):
        template, residual = fit_template(padding)
        print(
            f"padding {padding}: residual {residual:.1e} px, off FACE_TEMPLATE by "
            f"{np.abs(template - FACE_TEMPLATE).max():.1e}\n{template}"
        )
    impulse, shapes = pyramid_impulse()
    print("pyramid_down(2) of an impulse of 256 at (10, 10):\n", impulse[2:7, 2:7])
    print("pyramid_down(2) output shapes of n x n inputs:", shapes)
    down = dlib.pyramid_down(2)
    print("point_down:", [(p, down.point_down(dlib.dpoint(*p))) for p in ((0, 0), (1, 0), (0, 1), (10, 10))])
    grey = np.full((20, 20, 3), 100, dtype=np.uint8)
    for left, right in ((10.0, 19.0), (10.5, 19.5), (500.0, 509.0)):
        # Ten samples along row 5 of a 20 x 20 image of 100s, x = left..right: which are black?
        details = dlib.chip_details(dlib.drectangle(left, 5, right, 14), dlib.chip_dims(10, 10), 0.0)
        row = np.asarray(dlib.extract_image_chip(grey, details))[0, :, 0]
        print(f"samples x = {left}..{right}: black at x = {np.linspace(left, right, 10)[row == 0]}")
    for levels in (1, 2, 3):
        for axis in (0, 1):
            # The first chip start at which the crop no longer starts at the image's edge: there the crop
            # origin is 1, so the margin is round(start) - 1.
            for low in np.arange(0.25, 2 ** (levels + 2) + 4.0, 0.5):
                if crop_origin_residue(levels, axis, float(low)) not in (0, None):
                    print(
                        f"{levels} levels, axis {'xy'[axis]}: crop leaves the edge at start {low}, "
                        f"margin {int(np.floor(low + 0.5)) - 1} (module: {2 ** (levels + 2) - 2})"
                    )
                    break


if __name__ == "__main__":
    main()
