"""Generated test images: bad files of every kind, and real photos altered (shrunk, blurred, rotated)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge size but holds almost no data: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def jpeg(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92, **options)
    return buffer.getvalue()


def blank_photo() -> bytes:
    """A plain image without any face."""
    return jpeg(Image.fromarray(np.full((240, 320, 3), 128, dtype=np.uint8)))


def truncated(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 3]


def shrunk(path: Path, factor: float) -> bytes:
    with Image.open(path) as image:
        small = image.convert("RGB").resize(
            (round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS
        )
    return jpeg(small)


def blurred(path: Path, radius: float) -> bytes:
    with Image.open(path) as image:
        return jpeg(image.convert("RGB").filter(ImageFilter.GaussianBlur(radius)))


def stored_rotated(path: Path) -> bytes:
    """The photo's pixels turned a quarter, with EXIF orientation 8 saying how to turn them back upright."""
    with Image.open(path) as image:
        turned = image.convert("RGB").transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8  # "turn 90 degrees counter-clockwise to view": undoes the clockwise turn above
    return jpeg(turned, exif=exif.tobytes())
