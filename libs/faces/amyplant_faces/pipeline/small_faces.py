"""Faces too small for the detector's whole-image view, looked for on overlapping tiles of a large photo."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from amyplant_faces.detection_metrics import iou_matrix
from amyplant_faces.models.client import Detection, ModelClient

DETECTOR_INPUT_PX = 192  # the detector sees any image letterboxed into this square
# The smallest face BlazeFace finds in its 192 px input: pasted into clip frames, faces of 12 px were
# found 4 times out of 4, of 10 px 3 out of 4, of 8 px never.
SMALLEST_SEEN_PX = 12
# Neighbouring tiles overlap by a third of their side, so every face up to a third of a tile lies whole
# in one tile; the next level's tiles are three times larger and take over from there.
TILE_OVERLAP = 1.0 / 3.0
LEVEL_GROWTH = 3.0
MERGE_IOU = 0.3
# At most this many tiles (detector calls, about 15 ms each on this 2-core machine): a larger photo is
# searched for somewhat larger faces instead (a 1800x1350 photo keeps 12 px; 2400x1800 reaches 15 px).
MAX_TILES = 200
# Tiles see many small patches of skin and texture: on the shared photos the only tile find below this
# BlazeFace score was two fingers (0.50); real faces found only by tiles scored 0.8 and more.
TILE_MIN_SCORE = 0.6


def smallest_face_px(shape: Sequence[int]) -> float:
    """The smallest face (pixels) the whole-image view of an image of this shape can find."""
    return SMALLEST_SEEN_PX * max(shape[0], shape[1]) / DETECTOR_INPUT_PX


def tiles(
    shape: Sequence[int], *, min_face_px: float, max_tiles: int = MAX_TILES
) -> list[tuple[int, int, int, int]]:
    """Tiles (x0, y0, x1, y1) that together let the detector see faces from `min_face_px` (raised until
    `max_tiles` suffice) up to what the whole-image view sees; none when that view sees them already."""
    found = _tiles(shape, min_face_px)
    while len(found) > max_tiles:
        min_face_px *= 1.1
        found = _tiles(shape, min_face_px)
    return found


def _tiles(shape: Sequence[int], min_face_px: float) -> list[tuple[int, int, int, int]]:
    height, width = int(shape[0]), int(shape[1])
    found: list[tuple[int, int, int, int]] = []
    side = DETECTOR_INPUT_PX * min_face_px / SMALLEST_SEEN_PX
    # A level is needed while its tiles are smaller than the image: larger tiles would be the whole view.
    while smallest_face_px(shape) > min_face_px and side < max(height, width):
        found += _level(height, width, side)
        side *= LEVEL_GROWTH
        min_face_px *= LEVEL_GROWTH
    return found


def _level(height: int, width: int, side: float) -> list[tuple[int, int, int, int]]:
    tile = max(1, round(side))
    stride = max(1, round(side * (1.0 - TILE_OVERLAP)))
    return [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in _starts(height, tile, stride)
        for x in _starts(width, tile, stride)
    ]


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / stride) + 1
    # The last tile ends at the image's edge rather than beyond it.
    return sorted({min(i * stride, length - tile) for i in range(count)})


def detect_with_tiles(
    models: ModelClient, image: np.ndarray, *, min_face_px: float, model_version: int | None = None
) -> list[Detection]:
    """The whole-image detections, then those of the tiles that overlap none of them, in image pixels.

    A tile keeps only faces that lie whole inside it and span at most a third of it: a face cut by the
    tile's edge, or filling it, is another tile's or the whole view's to find (on the shared photos,
    without this rule the tiles added cut faces and re-framed faces the whole view had already found)."""
    whole = list(models.detect(image, model_version=model_version))
    found: list[Detection] = []
    height, width = image.shape[:2]
    for x0, y0, x1, y1 in tiles(image.shape, min_face_px=min_face_px):
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        limit = max(x1 - x0, y1 - y0) * TILE_OVERLAP
        found += [
            _shifted(d, x0, y0)
            for d in models.detect(crop, model_version=model_version)
            if d.score >= TILE_MIN_SCORE
            and _inside_tile(
                d.box, x1 - x0, y1 - y0, at_image_edge=(x0 == 0, y0 == 0, x1 == width, y1 == height)
            )
            and max(d.box[2] - d.box[0], d.box[3] - d.box[1]) <= limit
        ]
    return whole + [d for d in _merged(found) if not _overlaps(d, whole)]


def _inside_tile(
    box: tuple[float, float, float, float], width: int, height: int, *, at_image_edge: tuple[bool, ...]
) -> bool:
    """Whether a box stays clear of the tile's inner edges (edges on the image's border do not count)."""
    left, top, right, bottom = at_image_edge
    return (
        (left or box[0] > 0)
        and (top or box[1] > 0)
        and (right or box[2] < width)
        and (bottom or box[3] < height)
    )


def _shifted(detection: Detection, dx: int, dy: int) -> Detection:
    x1, y1, x2, y2 = detection.box
    return Detection(
        box=(x1 + dx, y1 + dy, x2 + dx, y2 + dy),
        score=detection.score,
        landmarks=tuple((x + dx, y + dy) for x, y in detection.landmarks),
    )


def _merged(detections: list[Detection]) -> list[Detection]:
    kept: list[Detection] = []
    for candidate in sorted(detections, key=lambda d: d.score, reverse=True):
        if not _overlaps(candidate, kept):
            kept.append(candidate)
    return kept


def _overlaps(candidate: Detection, others: list[Detection]) -> bool:
    if not others:
        return False
    return bool(
        (iou_matrix(np.asarray([candidate.box]), np.asarray([o.box for o in others])) > MERGE_IOU).any()
    )
