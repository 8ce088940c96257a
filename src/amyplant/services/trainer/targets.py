"""Grid targets: each cell of the feature map predicts whether a face is centred there, and its box."""

from __future__ import annotations

import numpy as np

from amyplant.services.trainer.augment import AugmentedSample

# Per cell: objectness (1), box corners x1 y1 x2 y2 (4), landmarks (10), landmark mask (1).
TARGET_CHANNELS = 16


def encode_targets(sample: AugmentedSample, grid: int) -> np.ndarray:
    """float32 [grid, grid, 16]; when two faces share a cell, the larger one is the target."""
    target = np.zeros((grid, grid, TARGET_CHANNELS), dtype=np.float32)
    areas = np.zeros((grid, grid), dtype=np.float32)
    for box, points, has_points in zip(sample.boxes, sample.landmarks, sample.has_landmarks, strict=True):
        x1, y1, x2, y2 = (float(v) for v in box)
        area = (x2 - x1) * (y2 - y1)
        column = min(int((x1 + x2) / 2 * grid), grid - 1)
        row = min(int((y1 + y2) / 2 * grid), grid - 1)
        if area <= areas[row, column]:
            continue
        areas[row, column] = area
        target[row, column, 0] = 1.0
        target[row, column, 1:5] = (x1, y1, x2, y2)
        target[row, column, 5:15] = points.reshape(-1)
        target[row, column, 15] = 1.0 if has_points else 0.0
    return target
