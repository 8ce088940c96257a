"""dlib's image pyramid for the HOG detector over regions: the upsampling, the 5/6 levels, their rounding."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from amyplant_faces.hog.arrays import F32, BoolArray, F32Array, F64Array, IntArray

# Resize work is split in blocks of about this many output pixels so temporaries stay in cache.
_CHUNK_PIXELS = 16384


# Image pyramid: dlib's RGB bilinear resize_image (the SIMD variant), used by pyramid_up<2> and
# pyramid_down<6>. Its rounding (float32 weights, float32-accumulated x positions, truncation) decides
# pixel values, so it is reproduced operation by operation.


@dataclass(frozen=True)
class AxisPlan:
    """Where each output row (or column) samples its input, and with which weights."""

    lo: IntArray
    hi: IntArray
    frac32: F32Array  # weight of `hi`, float32 as the SIMD path uses it
    inv32: F32Array  # weight of `lo`
    frac64: F64Array  # double weights for the scalar tail (columns only; rows use them too)
    simd: BoolArray  # column computed by the float32 SIMD path (else the double path)


@lru_cache(maxsize=512)
def row_plan(n_in: int, n_out: int) -> AxisPlan:
    scale = (n_in - 1) / max(n_out - 1, 1)
    # y starts at -scale and has scale added once per row, in double.
    steps = np.full(n_out + 1, scale)
    steps[0] = -scale
    y = np.cumsum(steps)[1:]
    lo = np.floor(y).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = y - lo
    return AxisPlan(lo, hi, frac.astype(F32), (1.0 - frac).astype(F32), frac, np.ones(n_out, np.bool_))


@lru_cache(maxsize=512)
def col_plan(n_in: int, n_out: int) -> AxisPlan:
    scale = (n_in - 1) / max(n_out - 1, 1)
    blocks = (n_out + 3) // 4 + 2
    start = -4 * scale
    # Four float32 lanes start at x, x+s, x+2s, x+3s (computed in double) and each gets float32(4s) added
    # per block of 4 output columns: the float32 accumulation error is part of the result.
    lanes = np.empty((blocks + 1, 4), F32)
    lanes[0] = np.array([start, start + scale, start + 2 * scale, start + 3 * scale]).astype(F32)
    lanes[1:] = F32(4 * scale)
    x32 = np.cumsum(lanes, axis=0, dtype=F32)[1:]
    left = x32.astype(np.int64)  # cvttps: truncation
    broken = np.nonzero(left[:, 3] + 1 >= n_in)[0]
    simd_blocks = int(broken[0]) if broken.size else blocks
    simd_cols = min(4 * simd_blocks, n_out)
    lo = np.empty(n_out, np.int64)
    hi = np.empty(n_out, np.int64)
    frac32 = np.zeros(n_out, F32)
    inv32 = np.zeros(n_out, F32)
    frac64 = np.zeros(n_out, np.float64)
    flat_x = x32.reshape(-1)[:simd_cols]
    lo[:simd_cols] = flat_x.astype(np.int64)
    hi[:simd_cols] = lo[:simd_cols] + 1
    frac32[:simd_cols] = flat_x - lo[:simd_cols].astype(F32)
    inv32[:simd_cols] = F32(1) - frac32[:simd_cols]
    # The remaining columns: x restarts at -s + c*s and is accumulated in double.
    x = -scale + simd_cols * scale
    for c in range(simd_cols, n_out):
        x += scale
        lo[c] = math.floor(x)
        hi[c] = min(lo[c] + 1, n_in - 1)
        frac64[c] = x - lo[c]
    simd = np.zeros(n_out, np.bool_)
    simd[:simd_cols] = True
    return AxisPlan(lo, hi, frac32, inv32, frac64, simd)


def resize_region(
    src: F32Array, origin: tuple[int, int], rows: AxisPlan, cols: AxisPlan, out_rows: range, out_cols: range
) -> F32Array:
    """Output pixels [3, out_rows, out_cols] of dlib's resize of the image that `src` [3, h, w] is part of.

    Pixels are kept as float32 holding dlib's uint8 values (exact), planar, so each step below is one
    in-place float32 operation over a block of rows small enough to stay in cache.
    """
    h, w = len(out_rows), len(out_cols)
    out = np.empty((3, h, w), F32)
    cx = slice(out_cols.start, out_cols.stop)
    ry = slice(out_rows.start, out_rows.stop)
    left = cols.lo[cx] - origin[1]
    right = cols.hi[cx] - origin[1]
    lr = cols.frac32[cx][None, :]
    ilr = cols.inv32[cx][None, :]
    tb = rows.frac32[ry][:, None]
    itb = rows.inv32[ry][:, None]
    top_rows = rows.lo[ry] - origin[0]
    bottom_rows = rows.hi[ry] - origin[0]
    chunk = max(8, _CHUNK_PIXELS // max(w, 1))
    scratch = np.empty((3, min(chunk, h), w), F32)
    for y0 in range(0, h, chunk):
        y1 = min(y0 + chunk, h)
        tmp = scratch[:, : y1 - y0]
        acc = out[:, y0:y1]
        # Gather the needed columns of the input rows this block reads once; rows are then cheap copies.
        first = int(top_rows[y0])
        band = src[:, first : int(bottom_rows[y1 - 1]) + 1]
        src_left = np.take(band, left, axis=2)
        src_right = np.take(band, right, axis=2)
        t_rows, b_rows = top_rows[y0:y1] - first, bottom_rows[y0:y1] - first
        t_w, it_w = tb[y0:y1], itb[y0:y1]
        # ((tl*w_tl + tr*w_tr) + bl*w_bl) + br*w_br, each weight a float32 product, as dlib's SIMD loop.
        np.take(src_left, t_rows, axis=1, out=acc)
        acc *= it_w * ilr
        np.take(src_right, t_rows, axis=1, out=tmp)
        tmp *= it_w * lr
        acc += tmp
        np.take(src_left, b_rows, axis=1, out=tmp)
        tmp *= t_w * ilr
        acc += tmp
        np.take(src_right, b_rows, axis=1, out=tmp)
        tmp *= t_w * lr
        acc += tmp
    np.floor(out, out=out)  # truncation to uint8 (values are never negative)
    tail = np.nonzero(~cols.simd[cx])[0]
    if tail.size:
        # Columns the SIMD loop leaves over: dlib's double formula, also truncated.
        t_idx = (rows.lo[ry] - origin[0])[:, None]
        b_idx = (rows.hi[ry] - origin[0])[:, None]
        lt, rt = left[tail][None, :], right[tail][None, :]
        t64 = rows.frac64[ry][None, :, None]
        l64 = cols.frac64[cx][tail][None, None, :]
        tl = src[:, t_idx, lt].astype(np.float64)
        tr = src[:, t_idx, rt].astype(np.float64)
        bl = src[:, b_idx, lt].astype(np.float64)
        br = src[:, b_idx, rt].astype(np.float64)
        exact = (1 - t64) * ((1 - l64) * tl + l64 * tr) + t64 * ((1 - l64) * bl + l64 * br)
        out[:, :, tail] = np.floor(exact)
    return out


def lround(x: float) -> int:
    """C's lround: halves away from zero."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


@lru_cache(maxsize=64)
def level_shapes(
    height: int, width: int, min_width: int, min_height: int, max_levels: int
) -> tuple[tuple[int, int], ...]:
    """(rows, cols) of every level dlib scans for an original image, after pyramid_up: level 0 first."""
    shape = (2 * height + 1, 2 * width + 2)  # pyramid_up: rect_up of the image rect, rounded
    # How many levels: dlib shrinks the image *rectangle* with rect_down (not the image sizes).
    right, bottom = shape[1] - 1, shape[0] - 1
    levels = 0
    while True:
        right = lround((right - 0.3) * (5 / 6.0))
        bottom = lround((bottom - 0.3) * (5 / 6.0))
        levels += 1
        if not (right + 1 >= min_width and bottom + 1 >= min_height and levels < max_levels):
            break
    shapes = [shape]
    for _ in range(levels - 1):
        shape = (5 * shape[0] // 6, 5 * shape[1] // 6)  # pyramid_down<6>: integer (N-1)*n/N
        shapes.append(shape)
    return tuple(shapes)
