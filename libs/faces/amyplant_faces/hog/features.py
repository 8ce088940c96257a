"""dlib's fHOG features (Felzenszwalb's 31 per 8-pixel cell) over a region of one pyramid level."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amyplant_faces.hog.arrays import F32, F32Array
from amyplant_faces.hog.model import NUM_PLANES

# The 9 unit vectors dlib snaps gradients to, as the float32 literals of dlib/image_transforms/fhog.h.
DIRECTIONS = np.array(
    [
        [1.0, 0.0],
        [0.9397, 0.3420],
        [0.7660, 0.6428],
        [0.500, 0.8660],
        [0.1736, 0.9848],
        [-0.1736, 0.9848],
        [-0.5000, 0.8660],
        [-0.7660, 0.6428],
        [-0.9397, 0.3420],
    ],
    dtype=F32,
)


@dataclass(frozen=True)
class LevelGeometry:
    rows: int
    cols: int
    cells_r: int
    cells_c: int
    hog_r: int  # unpadded fHOG rows
    hog_c: int
    visible_r: int  # gradients are taken at pixels [1, visible)
    visible_c: int
    simd_end_c: int  # pixels x < this are processed by the 8-wide SIMD loop


def level_geometry(rows: int, cols: int, cell: int) -> LevelGeometry:
    cells_r = int(F32(rows) / F32(cell) + 0.5)
    cells_c = int(F32(cols) / F32(cell) + 0.5)
    visible_r = min(cells_r * cell, rows) - 1
    visible_c = min(cells_c * cell, cols) - 1
    blocks = max(0, -(-(visible_c - 8) // 8))  # x = 1, 9, 17, ... while x < visible_c - 7
    return LevelGeometry(
        rows,
        cols,
        cells_r,
        cells_c,
        max(cells_r - 2, 0),
        max(cells_c - 2, 0),
        visible_r,
        visible_c,
        1 + 8 * blocks,
    )


def fhog_region(
    img: F32Array, origin: tuple[int, int], geo: LevelGeometry, hog_rows: range, hog_cols: range, cell: int
) -> F32Array:
    """Unpadded fHOG [31, len(hog_rows), len(hog_cols)]; zero outside the level's fHOG image.

    `img` [3, h, w] float32 holds the level's pixels from `origin` on, covering everything these fHOG
    cells depend on.
    """
    out = np.zeros((NUM_PLANES, len(hog_rows), len(hog_cols)), F32)
    ya, yb = max(hog_rows.start, 0), min(hog_rows.stop, geo.hog_r)
    xa, xb = max(hog_cols.start, 0), min(hog_cols.stop, geo.hog_c)
    if ya >= yb or xa >= xb:
        return out
    # Cells whose histograms are needed (hist of cell y+1, norms of cells y..y+2), and their pixels.
    ka, kb = ya, yb + 2
    ja, jb = xa, xb + 2
    half = cell // 2
    py0, py1 = max(1, ka * cell - half), min(geo.visible_r, (kb - 1) * cell + cell + half)
    px0, px1 = max(1, ja * cell - half), min(geo.visible_c, (jb - 1) * cell + cell + half)
    oy, ox = py0 - origin[0], px0 - origin[1]
    h, w = py1 - py0, px1 - px0
    gx = img[:, oy : oy + h, ox + 1 : ox + w + 1] - img[:, oy : oy + h, ox - 1 : ox + w - 1]
    gy = img[:, oy + 1 : oy + h + 1, ox : ox + w] - img[:, oy - 1 : oy + h - 1, ox : ox + w]
    length = gx * gx + gy * gy  # exact: integers below 2**24
    # Strongest channel. dlib's SIMD loop lets later channels win ties (r > g, then > b, strictly).
    first = length[0] > length[1]
    gxs = np.where(first, gx[0], gx[1])
    gys = np.where(first, gy[0], gy[1])
    best_len = np.where(first, length[0], length[1])
    keep = best_len > length[2]
    gxs = np.where(keep, gxs, gx[2])
    gys = np.where(keep, gys, gy[2])
    best_len = np.where(keep, best_len, length[2])
    if px1 > geo.simd_end_c:
        # The columns after the last 8-pixel block go through the scalar code: earlier channels win ties.
        t = slice(max(geo.simd_end_c - px0, 0), w)
        green = length[1, :, t] > length[0, :, t]
        tgx = np.where(green, gx[1, :, t], gx[0, :, t])
        tgy = np.where(green, gy[1, :, t], gy[0, :, t])
        tlen = np.where(green, length[1, :, t], length[0, :, t])
        blue = length[2, :, t] > tlen
        gxs[:, t] = np.where(blue, gx[2, :, t], tgx)
        gys[:, t] = np.where(blue, gy[2, :, t], tgy)
        best_len[:, t] = np.where(blue, length[2, :, t], tlen)
    mag = np.sqrt(best_len)
    # Snap to 18 orientations: dlib walks d0, -d0, d1, -d1, ... keeping the first strictly larger dot,
    # which is argmax's first-maximum rule (a zero gradient votes 0 into bin 0 either way).
    dots = gxs[None] * DIRECTIONS[:, 0, None, None] + gys[None] * DIRECTIONS[:, 1, None, None]
    signed = np.empty((18, h, w), F32)
    signed[0::2] = dots
    signed[1::2] = -dots
    pick_o = np.argmax(signed, axis=0)
    best_o = (pick_o >> 1) + 9 * (pick_o & 1)
    # Bilinear votes into the 4 surrounding cells; the weights are exact multiples of 1/16.
    ys = np.arange(py0, py1)
    xs = np.arange(px0, px1)
    yp = ((ys + 0.5) / cell - 0.5).astype(F32)
    iy = np.floor(yp).astype(np.int64)
    vy0 = (yp - iy.astype(F32))[:, None]
    vy1 = F32(1) - vy0
    xp = ((xs + 0.5) / cell - 0.5).astype(F32)
    ix = np.floor(xp).astype(np.int64)
    vx0 = (xp - ix.astype(F32))[None, :]
    vx1 = F32(1) - vx0
    # The SIMD loop rounds vy * (vx * v); the scalar tail (vy * vx) * v.
    a1 = vx1 * mag
    a0 = vx0 * mag
    votes = np.stack([vy1 * a1, vy0 * a1, vy1 * a0, vy0 * a0], axis=-1)
    if px1 > geo.simd_end_c:
        t = slice(max(geo.simd_end_c - px0, 0), w)
        m = mag[:, t]
        votes[:, t] = np.stack(
            [(vy1 * vx1[:, t]) * m, (vy0 * vx1[:, t]) * m, (vy1 * vx0[:, t]) * m, (vy0 * vx0[:, t]) * m],
            axis=-1,
        )
    # Histogram of cells [ka-1, kb+1) x [ja-1, jb+1) (one spare cell each side), 18 bins.
    hr, hc = kb - ka + 2, jb - ja + 2
    base = ((iy - (ka - 1))[:, None] * hc + (ix - (ja - 1))[None, :]) * 18 + best_o
    idx = (base[..., None] + np.array([0, hc * 18, 18, hc * 18 + 18])).reshape(-1)
    hist = np.zeros(hr * hc * 18, F32)
    # ufunc.at adds in order, in float32: the same sequence of roundings as dlib's pixel loop.
    np.add.at(hist, idx, votes.reshape(-1))
    hist3 = hist.reshape(hr, hc, 18)[1:-1, 1:-1].transpose(2, 0, 1)  # [18, cells ka..kb, cells ja..jb]
    sums = hist3[:9] + hist3[9:]
    norm = np.zeros(hist3.shape[1:], F32)
    for o in range(9):
        norm = norm + sums[o] * sums[o]
    eps = F32(0.0001)
    n00 = norm[:-2, :-2]
    n01 = norm[:-2, 1:-1]
    n02 = norm[:-2, 2:]
    n10 = norm[1:-1, :-2]
    n11 = norm[1:-1, 1:-1]
    n12 = norm[1:-1, 2:]
    n20 = norm[2:, :-2]
    n21 = norm[2:, 1:-1]
    n22 = norm[2:, 2:]
    # The four 2x2 blocks around the cell, as dlib's 4 SIMD lanes sum them (z1+z2+z3+z4+eps).
    lanes = np.stack(
        [
            (((n11 + n12) + n21) + n22) + eps,
            (((n01 + n02) + n11) + n12) + eps,
            (((n10 + n11) + n20) + n21) + eps,
            (((n00 + n01) + n10) + n11) + eps,
        ]
    )
    nn = F32(0.2) * np.sqrt(lanes)
    inv = F32(0.1) / nn
    cellh = hist3[:, 1 : 1 + (yb - ya), 1 : 1 + (xb - xa)]  # cell y+1 for fHOG row y
    feats = np.empty((NUM_PLANES, yb - ya, xb - xa), F32)
    parts = np.minimum(cellh[:, None], nn[None]) * inv[None]  # [18, 4 lanes, Y, X]
    feats[:18] = (parts[:, 0] + parts[:, 1]) + (parts[:, 2] + parts[:, 3])  # _mm_dp_ps order
    # Texture features: per lane, groups of three orientations added to a running float32 sum.
    groups = (parts[0::3] + parts[1::3]) + parts[2::3]  # [6, 4, Y, X]
    texture = groups[0]
    for g in range(1, 6):
        texture = texture + groups[g]
    feats[27:] = texture * F32(2 * 0.2357)
    insensitive = np.minimum(sums[:, None, 1 : 1 + (yb - ya), 1 : 1 + (xb - xa)], nn[None]) * inv[None]
    feats[18:27] = (insensitive[:, 0] + insensitive[:, 1]) + (insensitive[:, 2] + insensitive[:, 3])
    out[:, ya - hog_rows.start : yb - hog_rows.start, xa - hog_cols.start : xb - hog_cols.start] = feats
    return out
