"""Grid targets: the cells around a face's centre predict that there is a face, and its box."""

from __future__ import annotations

import numpy as np

from amyplant_trainer.augment import AugmentedSample

# Per cell: objectness (1), box corners x1 y1 x2 y2 (4), landmarks (10), landmark mask (1).
TARGET_CHANNELS = 16
# A face is the target of every cell whose centre lies in the middle of its box: within this fraction
# of the box's width (height) of the face's centre, and never further than CENTRE_REACH - 0.5 cells.
# Why not only the cell holding the centre: the cells beside it see the same face; trained as
# negatives they still fire at serving time, with boxes nobody trained, and suppress the good one.
CENTRE_REGION = 0.25
# How far (in cells, from the cell's own centre) a cell's box centre may be; network.CellDecoder uses it.
CENTRE_REACH = 2.0


def encode_targets(sample: AugmentedSample, grid: int) -> np.ndarray:
    """float32 [grid, grid, 16]; a cell that two faces claim takes the one whose centre is nearer."""
    target = np.zeros((grid, grid, TARGET_CHANNELS), dtype=np.float32)
    nearest = np.full((grid, grid), np.inf, dtype=np.float32)
    centres = (np.arange(grid, dtype=np.float32) + 0.5) / grid
    limit = (CENTRE_REACH - 0.5) / grid
    for box, points, has_points in zip(sample.boxes, sample.landmarks, sample.has_landmarks, strict=True):
        x1, y1, x2, y2 = (float(v) for v in box)
        centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
        reach_x = min(max(CENTRE_REGION * (x2 - x1), 0.5 / grid), limit)
        reach_y = min(max(CENTRE_REGION * (y2 - y1), 0.5 / grid), limit)
        columns = np.abs(centres - centre_x) <= reach_x
        rows = np.abs(centres - centre_y) <= reach_y
        # The cell holding the centre always counts, however small the face.
        columns[min(int(centre_x * grid), grid - 1)] = True
        rows[min(int(centre_y * grid), grid - 1)] = True
        distance = np.hypot(centres[None, :] - centre_x, centres[:, None] - centre_y)
        claimed = rows[:, None] & columns[None, :] & (distance < nearest)
        nearest[claimed] = distance[claimed]
        target[claimed, 0] = 1.0
        target[claimed, 1:5] = (x1, y1, x2, y2)
        target[claimed, 5:15] = points.reshape(-1)
        target[claimed, 15] = 1.0 if has_points else 0.0
    return target
