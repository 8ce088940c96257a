"""Uploaded images: size limit, content sniffing, pixel-count limit before decoding, EXIF orientation."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from amyplant_store.errors import GalleryError

# Formats Pillow recognises from the bytes themselves; the client's content type and file name are ignored.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may weigh and how many pixels its image may have."""

    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class DecodedImage:
    """An accepted upload: upright RGB pixels, the sniffed format and the hash of the bytes."""

    filename: str
    rgb: np.ndarray
    image_format: str
    sha256: str


def read_limited(stream: BinaryIO, *, filename: str, max_bytes: int) -> bytes:
    """The stream's bytes, refusing (413) as soon as more than `max_bytes` arrive."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(READ_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise GalleryError(
                "upload_too_large",
                f"{filename} is larger than the {max_bytes} bytes allowed per file",
                status=413,
                limit_bytes=max_bytes,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def decode_image_bytes(data: bytes, *, filename: str, max_pixels: int) -> DecodedImage:
    """Sniff, check and decode an image; every failure is a GalleryError with its own code."""
    if not data:
        raise GalleryError("empty_file", f"{filename} is empty", status=400)
    image = _open(data, filename=filename, max_pixels=max_pixels)
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise GalleryError(
            "image_too_large",
            f"{filename} has {image.width}x{image.height} = {pixels} pixels; the limit is {max_pixels}",
            status=413,
            width=image.width,
            height=image.height,
            limit_pixels=max_pixels,
        )
    # Pillow's LOAD_TRUNCATED_IMAGES is one switch for the whole process, and a library may turn it on when
    # imported (face_recognition does): a truncated upload must be refused all the same.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            # Our own pixel limit was checked above; Pillow's bomb warning adds nothing.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            upright = _eight_bits(ImageOps.exif_transpose(image))
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as error:
        raise GalleryError(
            "image_corrupt",
            f"{filename} looks like {image.format} but cannot be decoded: {error}",
            status=422,
        ) from error
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 1:
        raise GalleryError("image_corrupt", f"{filename} decoded to an empty image", status=422)
    return DecodedImage(
        filename=filename,
        rgb=np.ascontiguousarray(rgb),
        image_format=str(image.format),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _eight_bits(image: Image.Image) -> Image.Image:
    """Greyscale of more than 8 bits scaled to 8 (Pillow's own conversion clips everything above 255).

    16-bit modes span 0..65535; 32-bit integer and float images carry no range, so theirs is guessed from
    the largest value: up to 1.0 (float), 255, 65535, else the largest value itself.
    """
    if not (image.mode.startswith("I;16") or image.mode in ("I", "F")):
        return image
    values = np.nan_to_num(np.asarray(image, dtype=np.float32))
    full_scale = 65535.0
    if image.mode in ("I", "F"):
        top = float(values.max()) if values.size else 0.0
        limits = (1.0, 255.0, 65535.0) if image.mode == "F" else (255.0, 65535.0)
        full_scale = next((limit for limit in limits if top <= limit), top)
    return Image.fromarray(np.clip(np.rint(values * np.float32(255.0 / full_scale)), 0, 255).astype(np.uint8))


def _open(data: bytes, *, filename: str, max_pixels: int) -> Image.Image:
    """Read only the header: the format and the size, before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        raise GalleryError(
            "image_too_large",
            f"{filename} has far more pixels than the {max_pixels} allowed",
            status=413,
            limit_pixels=max_pixels,
        ) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise GalleryError(
            "not_an_image",
            f"{filename} is not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})",
            status=415,
        ) from error


def read_image(stream: BinaryIO, *, filename: str, limits: UploadLimits) -> DecodedImage:
    """An upload's image, read within the byte limit and decoded within the pixel limit."""
    data = read_limited(stream, filename=filename, max_bytes=limits.max_bytes)
    return decode_image_bytes(data, filename=filename, max_pixels=limits.max_pixels)
