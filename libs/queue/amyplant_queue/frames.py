"""Frames in Redis: JPEG bytes stored under a key with a TTL, loaded back and decoded with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import redis


class FrameGone(LookupError):
    """The frame's key expired (or was never written) before a worker got to it."""


class FrameUndecodable(ValueError):
    """The stored bytes are not a decodable image."""


def encode_jpeg(image_rgb: np.ndarray, *, quality: int = 90) -> bytes:
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an image of shape {image_rgb.shape}")
    return bytes(encoded.tobytes())


def decode_image(data: bytes) -> np.ndarray:
    """Decode JPEG/PNG/... bytes to an RGB uint8 array, or raise FrameUndecodable."""
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_COLOR) if array.size else None
    if image is None:
        raise FrameUndecodable(f"{len(data)} bytes could not be decoded as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def store_frame(client: redis.Redis, *, key: str, jpeg: bytes, ttl_s: int) -> None:
    client.set(key, jpeg, ex=ttl_s)


def load_frame(client: redis.Redis, key: str) -> np.ndarray:
    data = client.get(key)
    if data is None:
        raise FrameGone(f"frame {key} is no longer in Redis (its TTL expired?)")
    return decode_image(bytes(data))  # type: ignore[arg-type]
