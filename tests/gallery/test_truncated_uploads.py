"""A truncated upload is refused even when another library has told Pillow to accept truncated images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from amyplant_gallery.uploads import decode_image_bytes
from amyplant_store.errors import GalleryError


def gradient_jpeg() -> bytes:
    ramp = np.linspace(0, 255, 320, dtype=np.uint8)
    rgb = np.stack([np.tile(ramp, (240, 1))] * 3, axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_a_truncated_jpeg_is_refused_whatever_pillows_process_wide_switch_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = gradient_jpeg()
    assert decode_image_bytes(whole, filename="whole.jpg", max_pixels=10**6).rgb.shape == (240, 320, 3)
    # What `import face_recognition` does to every Pillow user in the process.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(GalleryError) as refused:
        decode_image_bytes(whole[: len(whole) // 3], filename="cut.jpg", max_pixels=10**6)
    assert (refused.value.code, refused.value.status) == ("image_corrupt", 422)
