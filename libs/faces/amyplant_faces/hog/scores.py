"""The HOG detector's filter responses at chosen windows, summed in dlib's float32 order."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from amyplant_faces.hog.arrays import F32, BoolArray, F32Array, F64Array
from amyplant_faces.hog.features import fhog_region, level_geometry
from amyplant_faces.hog.model import HogModel


def _tap_sum(products: list[F32Array], simd: BoolArray) -> F32Array:
    """Sum of filter-tap products in dlib's float32 order.

    The 8-wide loop keeps three accumulators (taps 0,3,6,.. / 1,4,7,.. / 2,5,8,..; leftover taps go to the
    first) and returns first + (second + third); the one-by-one loop for the last columns adds in order.
    """
    taps = len(products)
    grouped = 3 * ((taps - 2 + 2) // 3) if taps >= 3 else 0  # taps covered by `n < taps - 2; n += 3`
    lanes: list[F32Array | None] = [None, None, None]
    for n in range(taps):
        k = n % 3 if n < grouped else 0
        current = lanes[k]
        lanes[k] = products[n] if current is None else current + products[n]
    first = lanes[0]
    assert first is not None
    vector = first
    if lanes[1] is not None and lanes[2] is not None:
        vector = first + (lanes[1] + lanes[2])
    scalar = products[0]
    for p in products[1:]:
        scalar = scalar + p
    return np.where(simd, vector, scalar)


def _simd_columns(padded_cols: int, taps: int, cols: NDArray[np.int64]) -> BoolArray:
    """Which saliency columns dlib's filter loops compute 8 at a time (the rest one by one)."""
    first = taps // 2
    last = padded_cols - (taps - 1) // 2
    blocks = max(0, -(-(last - 7 - first) // 8))
    return cols < first + 8 * blocks


def window_scores(
    model: HogModel,
    hog: F32Array,
    hog_origin: tuple[int, int],
    padded_shape: tuple[int, int],
    r_values: NDArray[np.int64],
    c_values: NDArray[np.int64],
) -> F32Array:
    """Saliency [F, len(r), len(c)] at padded-fHOG positions (r, c); `hog` holds the padded fHOG rows and
    columns from `hog_origin` on."""
    rows_f, cols_f = model.fhog_rows, model.fhog_cols
    fr, fc = rows_f // 2, cols_f // 2
    # Row pass (scratch) on rows r-fr .. r-fr+rows_f-1, at columns c.
    rr = np.arange(r_values.min() - fr, r_values.max() - fr + rows_f) - hog_origin[0]
    taps_c = [c_values - fc + n - hog_origin[1] for n in range(cols_f)]
    planes = model.planes  # [F, S]
    sub = hog[:, rr][planes]  # [F, S, R, C]: each separable term's fHOG plane
    simd_c = _simd_columns(padded_shape[1], cols_f, c_values)[None, None, None, :]
    row_products = [sub[:, :, :, taps_c[n]] * model.row_filters[:, :, n, None, None] for n in range(cols_f)]
    scratch = _tap_sum(row_products, simd_c)
    r_idx = r_values - (r_values.min() - fr)
    col_products = [
        scratch[:, :, r_idx - fr + m, :] * model.col_filters[:, :, m, None, None] for m in range(rows_f)
    ]
    # Same column-block structure decides the column pass's order.
    terms = _tap_sum(col_products, simd_c)  # [F, S, R', C]
    terms = np.where(model.used[:, :, None, None], terms, F32(0))
    # dlib adds each separable term's output into the saliency image in turn.
    return np.cumsum(terms, axis=1, dtype=F32)[:, -1]


def level_scores(
    model: HogModel, patch: tuple[F32Array, tuple[int, int]], shape: tuple[int, int], rs: range, cs: range
) -> F64Array:
    """dlib's detection confidence [F, len(rs), len(cs)] of the windows at saliency rows rs, cols cs."""
    img, origin = patch
    geo = level_geometry(shape[0], shape[1], model.cell_size)
    pad_r, pad_c = (model.fhog_rows - 1) // 2, (model.fhog_cols - 1) // 2
    fr, fc = model.fhog_rows // 2, model.fhog_cols // 2
    # Padded fHOG rows/cols the filters read, and the unpadded fHOG rows/cols they are.
    pr = range(rs.start - fr, rs.stop - 1 - fr + model.fhog_rows)
    pc = range(cs.start - fc, cs.stop - 1 - fc + model.fhog_cols)
    hog = fhog_region(
        img,
        origin,
        geo,
        range(pr.start - pad_r, pr.stop - pad_r),
        range(pc.start - pad_c, pc.stop - pad_c),
        model.cell_size,
    )
    padded = (geo.hog_r + model.fhog_rows - 1, geo.hog_c + model.fhog_cols - 1)
    sal = window_scores(
        model, hog, (pr.start, pc.start), padded, np.arange(rs.start, rs.stop), np.arange(cs.start, cs.stop)
    )
    # dlib reports saliency - threshold, the float32 saliency promoted to double.
    return sal.astype(np.float64) - model.thresholds[:, None, None]
