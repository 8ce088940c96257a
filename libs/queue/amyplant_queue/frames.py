"""Frames in Redis: JPEG bytes stored under a key with a TTL, taken by one worker, decoded with OpenCV.

A frame's key is the capture's: while it exists, the frame waits for a worker, and the capture's bounded
backlog may drop it (delete it, and count it dropped). A worker that starts on a frame takes it: the key
is renamed to its taken form in the same step as it is read, so the capture can neither drop nor count a
frame a worker is handling. The worker deletes the taken key when done (release_frame)."""

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


TAKEN_SUFFIX = ":taken"
# One round trip: move the frame out of the capture's reach, then read it where it now is. A frame taken
# before (its worker died and the task was delivered again) is read from where that worker moved it.
TAKE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('RENAME', KEYS[1], KEYS[2])
end
return redis.call('GET', KEYS[2])
"""


def taken_key(key: str) -> str:
    return key + TAKEN_SUFFIX


def take_frame_bytes(client: redis.Redis, key: str) -> bytes:
    """Take the frame for this worker (see the module docstring): its encoded bytes."""
    data = client.register_script(TAKE_SCRIPT)(keys=[key, taken_key(key)])
    if data is None:
        raise FrameGone(f"frame {key} is no longer in Redis (dropped from the backlog, or its TTL expired)")
    return bytes(data)


def take_frame(client: redis.Redis, key: str) -> np.ndarray:
    """Take the frame for this worker and decode it."""
    return decode_image(take_frame_bytes(client, key))


def release_frame(client: redis.Redis, key: str) -> None:
    """The frame is handled: its keys go, which also tells the next frame's worker it may go on."""
    client.delete(key, taken_key(key))


def frame_in_flight(client: redis.Redis, key: str) -> bool:
    """Whether the frame still waits for a worker or is being handled (not yet released or dropped)."""
    return int(client.exists(key, taken_key(key))) > 0
