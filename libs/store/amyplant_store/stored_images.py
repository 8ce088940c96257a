"""How face crops and event snapshots are kept: JPEG bytes at fixed qualities."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

CROP_JPEG_QUALITY = 90
SNAPSHOT_JPEG_QUALITY = 85


def encode_crop(chip: np.ndarray) -> bytes:
    """The aligned face chip as a JPEG, the crop kept with a sample or an event."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(chip, dtype=np.uint8)).save(
        buffer, format="JPEG", quality=CROP_JPEG_QUALITY
    )
    return buffer.getvalue()


def encode_snapshot(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=SNAPSHOT_JPEG_QUALITY)
    return buffer.getvalue()
