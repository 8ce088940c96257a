"""dlib's HOG frontal-face box for faces we already found, recomputed exactly but only near each face."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amyplant_faces.hog.arrays import F32, F32Array, F64Array, IntArray, U8Array
from amyplant_faces.hog.model import HogModel
from amyplant_faces.hog.pyramid import col_plan, level_shapes, resize_region, row_plan
from amyplant_faces.hog.scores import level_scores
from amyplant_faces.hog.windows import candidates, window_box

# How far (relative to its side) the caller's box may be from dlib's, in size and in centre position. Our
# estimate (pipeline/landmarks.py) was up to 15% smaller than dlib's box on a face of the shared clip, and
# 0.12 missed it; these cover it at about 9 ms per 60-100 px face (this 2-core machine, shared clip), against
# 5 ms at 0.12. The windows searched are the highest-scoring near the face, so dlib keeps the best of them.
SIZE_TOLERANCE = 0.25
SHIFT_TOLERANCE = 0.15


@dataclass(frozen=True)
class HogBoxes:
    """Per face: dlib's rectangle (left, top, right, bottom), score (as dlib's run() reports it), filter."""

    boxes: IntArray  # [N, 4]
    scores: F64Array  # [N]
    filters: IntArray  # [N]
    levels: IntArray  # [N] pyramid level of the window (0 = the upsampled image)


def hog_boxes(
    image_rgb: np.ndarray,
    approximate: np.ndarray,
    model: HogModel,
    size_tolerance: float = SIZE_TOLERANCE,
    shift_tolerance: float = SHIFT_TOLERANCE,
) -> HogBoxes:
    """dlib's HOG box (`get_frontal_face_detector()(image, 1)`) for each approximately known face.

    `approximate` is [N, 4] (left, top, right, bottom) in original-image pixels, within `size_tolerance`
    of dlib's box in size and `shift_tolerance` (of the side) in centre position; the search covers
    exactly the windows those tolerances allow (2-4 levels, a few positions each way by default), and
    only the pixels, fHOG cells and pyramid levels those windows depend on are computed: the cost grows
    with the face's area (dlib's levels are each a truncating resize of the one before, so every level
    below the face's is rebuilt over its neighbourhood).
    The score is dlib's detection confidence (>= 0: dlib reports the window at its default threshold);
    the filter is which of the detector's weight vectors (dlib's weight_index) won.
    """
    image = np.ascontiguousarray(image_rgb, dtype=np.uint8)
    boxes = np.asarray(approximate, dtype=np.float64).reshape(-1, 4)
    count = len(boxes)
    out_boxes = np.zeros((count, 4), np.int64)
    out_scores = np.full(count, -np.inf)
    out_filters = np.full(count, -1, np.int64)
    out_levels = np.full(count, -1, np.int64)
    shapes = level_shapes(
        image.shape[0], image.shape[1], model.min_level_width, model.min_level_height, model.max_levels
    )
    for i, box in enumerate(boxes):
        best = _search_face(image, shapes, box, model, size_tolerance, shift_tolerance)
        if best is not None:
            score, d, level, r, c = best
            out_boxes[i] = window_box(model, level, r, c)
            out_scores[i] = score
            out_filters[i] = d
            out_levels[i] = level
    return HogBoxes(out_boxes, out_scores, out_filters, out_levels)


def _search_face(
    image: U8Array,
    shapes: tuple[tuple[int, int], ...],
    box: np.ndarray,
    model: HogModel,
    size_tolerance: float,
    shift_tolerance: float,
) -> tuple[float, int, int, int, int] | None:
    windows = candidates(model, shapes, box, size_tolerance, shift_tolerance)
    if not windows:
        return None
    cell = model.cell_size
    pad_r, pad_c = (model.fhog_rows - 1) // 2, (model.fhog_cols - 1) // 2
    # Pixel rectangle [y0, y1) x [x0, x1) each level needs, from the top level down to level 0.
    need: dict[int, list[int]] = {}
    for level, (rs, cs) in windows.items():
        # Padded rows r-fr .. r-fr+rows_f-1 -> unpadded fHOG rows -> cells -> pixels (+-1 for gradients).
        fr, fc = model.fhog_rows // 2, model.fhog_cols // 2
        hy0 = rs.start - fr - pad_r
        hy1 = rs.stop - 1 - fr + model.fhog_rows - pad_r
        hx0 = cs.start - fc - pad_c
        hx1 = cs.stop - 1 - fc + model.fhog_cols - pad_c
        rect = [
            hy0 * cell - cell // 2 - 1,
            (hy1 + 2) * cell + cell // 2 + 1,
            hx0 * cell - cell // 2 - 1,
            (hx1 + 2) * cell + cell // 2 + 1,
        ]
        need[level] = _union(need.get(level), _clip(rect, shapes[level]))
    top_level = max(need)
    for level in range(top_level, 0, -1):
        if level not in need:
            continue
        y0, y1, x0, x1 = need[level]
        rows = row_plan(shapes[level - 1][0], shapes[level][0])
        cols = col_plan(shapes[level - 1][1], shapes[level][1])
        below = [
            int(rows.lo[y0]),
            int(rows.hi[y0:y1].max()) + 1,
            int(cols.lo[x0]),
            int(cols.hi[x0:x1].max()) + 1,
        ]
        need[level - 1] = _union(need.get(level - 1), below)
    # Level 0 from the original image.
    y0, y1, x0, x1 = need[0]
    rows = row_plan(image.shape[0], shapes[0][0])
    cols = col_plan(image.shape[1], shapes[0][1])
    sy0, sy1 = int(rows.lo[y0]), int(rows.hi[y0:y1].max()) + 1
    sx0, sx1 = int(cols.lo[x0]), int(cols.hi[x0:x1].max()) + 1
    source = np.ascontiguousarray(image[sy0:sy1, sx0:sx1].transpose(2, 0, 1), dtype=F32)
    patch = resize_region(source, (sy0, sx0), rows, cols, range(y0, y1), range(x0, x1))
    patches: dict[int, tuple[F32Array, tuple[int, int]]] = {0: (patch, (y0, x0))}
    for level in range(1, top_level + 1):
        y0, y1, x0, x1 = need[level]
        prev, origin = patches[level - 1]
        rows = row_plan(shapes[level - 1][0], shapes[level][0])
        cols = col_plan(shapes[level - 1][1], shapes[level][1])
        patches[level] = (resize_region(prev, origin, rows, cols, range(y0, y1), range(x0, x1)), (y0, x0))
    best: tuple[float, int, int, int, int] | None = None
    for level, (rs, cs) in windows.items():
        scores = level_scores(model, patches[level], shapes[level], rs, cs)
        d, ri, ci = np.unravel_index(int(np.argmax(scores)), scores.shape)
        score = float(scores[d, ri, ci])
        if best is None or score > best[0]:
            best = (score, int(d), level, rs[int(ri)], cs[int(ci)])
    return best


def _clip(rect: list[int], shape: tuple[int, int]) -> list[int]:
    return [max(rect[0], 0), min(rect[1], shape[0]), max(rect[2], 0), min(rect[3], shape[1])]


def _union(a: list[int] | None, b: list[int]) -> list[int]:
    if a is None:
        return b
    return [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])]
