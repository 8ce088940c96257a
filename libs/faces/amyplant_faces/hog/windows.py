"""Where dlib's HOG detection windows lie in the image, and which of them lie near a given face box."""

from __future__ import annotations

import math

import numpy as np

from amyplant_faces.hog.features import level_geometry
from amyplant_faces.hog.model import HogModel
from amyplant_faces.hog.pyramid import lround


def _fhog_to_image(p: int, cell_size: int, fhog_padding: int) -> int:
    """One coordinate of dlib's fhog_to_image: cell index -> pixel at the cell's centre."""
    q = (p + 1 - (fhog_padding - 1) // 2) * cell_size + 1
    return q + (cell_size // 2 if q >= 0 else -(cell_size // 2))


def window_box(model: HogModel, level: int, r: int, c: int) -> tuple[int, int, int, int]:
    """Original-image (left, top, right, bottom) that dlib reports for saliency pixel (r, c) of a level."""
    x0, x1 = window_extent(model, level, c, horizontal=True)
    y0, y1 = window_extent(model, level, r, horizontal=False)
    return x0, y0, x1, y1


def window_box_upsampled(model: HogModel, level: int, r: int, c: int) -> tuple[int, int, int, int]:
    """The same window in the upsampled image, where dlib runs its non-maximum suppression."""
    x0, x1 = _upsampled_extent(model, level, c, horizontal=True)
    y0, y1 = _upsampled_extent(model, level, r, horizontal=False)
    return x0, y0, x1, y1


def _upsampled_extent(model: HogModel, level: int, index: int, horizontal: bool) -> tuple[int, int]:
    """(left, right) or (top, bottom) in the upsampled image of saliency column or row `index` of a level."""
    box = model.box_cols if horizontal else model.box_rows
    padding = model.fhog_cols if horizontal else model.fhog_rows
    first = index - box // 2  # centered_rect
    out = []
    for cell_index in (first, first + box - 1):
        x = float(_fhog_to_image(cell_index, model.cell_size, padding))
        for _ in range(level):
            x = x * (6 / 5.0) + 0.3  # pyramid_down<6>::point_up, in double, rounded once at the end
        out.append(lround(x))
    return out[0], out[1]


def window_extent(model: HogModel, level: int, index: int, horizontal: bool) -> tuple[int, int]:
    """The same extent in the caller's image, as dlib reports it (pyramid_down<2>::rect_down, rounded)."""
    shift = 1.25 if horizontal else 0.75
    lo, hi = _upsampled_extent(model, level, index, horizontal)
    return lround(lo / 2.0 - shift), lround(hi / 2.0 - shift)


def candidates(
    model: HogModel,
    shapes: tuple[tuple[int, int], ...],
    box: np.ndarray,
    size_tolerance: float,
    shift_tolerance: float,
) -> dict[int, tuple[range, range]]:
    """Pyramid levels and saliency (r, c) ranges holding every window whose dlib box is within tolerance.

    A window's box (W) qualifies when side(box) / side(W) is within 1 +- size_tolerance and each centre
    coordinate is within shift_tolerance * side(W) of W's, side being the mean of width and height (dlib's
    boxes are not square where they cross the top or left image border).
    """
    # Into the upsampled image: inverse of pyramid_down<2>::rect_down.
    left, right = (box[0] + 1.25) * 2, (box[2] + 1.25) * 2
    top, bottom = (box[1] + 0.75) * 2, (box[3] + 0.75) * 2
    cell = model.cell_size
    # A window's extent in its level's pixels (right - left of its fhog_to_image rectangle): 72 here.
    span_c = (model.box_cols - 1) * cell
    span_r = (model.box_rows - 1) * cell
    size = max(0.5 * ((right - left) / span_c + (bottom - top) / span_r), 1e-6)
    # dlib's box is about size / (1 +- size_tolerance) windows wide; each level is 6/5 larger than the last.
    # One level more each side for boxes crossing the top/left border (a cell larger there).
    low = math.log(size / (1 + size_tolerance)) / math.log(1.2) - 1
    high = math.log(size / max(1 - size_tolerance, 1e-6)) / math.log(1.2) + 1
    # Window centre in level pixels for saliency column c: cell * c + offset (8c - 23 here).
    offset_c = (1 - model.box_cols // 2 - (model.fhog_cols - 1) // 2) * cell + 1 + cell // 2 + span_c / 2
    offset_r = (1 - model.box_rows // 2 - (model.fhog_rows - 1) // 2) * cell + 1 + cell // 2 + span_r / 2
    side = 0.5 * ((box[2] - box[0]) + (box[3] - box[1]))
    centre_x, centre_y = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
    out: dict[int, tuple[range, range]] = {}
    for level in range(max(math.ceil(low), 0), min(math.floor(high), len(shapes) - 1) + 1):
        scale = (5 / 6.0) ** level
        # point_down, (p - 0.3) * 5/6, applied `level` times; its fixed point is -1.5.
        c_mid = (((left + right) / 2 + 1.5) * scale - 1.5 - offset_c) / cell
        r_mid = (((top + bottom) / 2 + 1.5) * scale - 1.5 - offset_r) / cell
        reach = shift_tolerance * size * (1 + size_tolerance) * span_c / cell + 2
        geo = level_geometry(shapes[level][0], shapes[level][1], cell)
        # Positions dlib scans: [rows_f // 2, padded rows - (rows_f - 1) // 2).
        r_lo, r_hi = model.fhog_rows // 2, geo.hog_r + model.fhog_rows - 1 - (model.fhog_rows - 1) // 2
        c_lo, c_hi = model.fhog_cols // 2, geo.hog_c + model.fhog_cols - 1 - (model.fhog_cols - 1) // 2
        rs_all = range(max(math.floor(r_mid - reach), r_lo), min(math.ceil(r_mid + reach) + 1, r_hi))
        cs_all = range(max(math.floor(c_mid - reach), c_lo), min(math.ceil(c_mid + reach) + 1, c_hi))
        if not len(rs_all) or not len(cs_all):
            continue
        xs = np.array([window_extent(model, level, c, horizontal=True) for c in cs_all], np.float64)
        ys = np.array([window_extent(model, level, r, horizontal=False) for r in rs_all], np.float64)
        sides = 0.5 * ((ys[:, 1] - ys[:, 0])[:, None] + (xs[:, 1] - xs[:, 0])[None, :])
        ratio = side / sides
        near_x = np.abs(0.5 * (xs[:, 0] + xs[:, 1])[None, :] - centre_x) <= shift_tolerance * sides + 0.5
        near_y = np.abs(0.5 * (ys[:, 0] + ys[:, 1])[:, None] - centre_y) <= shift_tolerance * sides + 0.5
        ok = (np.abs(ratio - 1) <= size_tolerance) & near_x & near_y
        if ok.any():
            rows_ok, cols_ok = np.nonzero(ok)
            out[level] = (
                range(rs_all[int(rows_ok.min())], rs_all[int(rows_ok.max())] + 1),
                range(cs_all[int(cols_ok.min())], cs_all[int(cols_ok.max())] + 1),
            )
    return out
