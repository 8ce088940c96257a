"""Each camera's latest annotated frame in Redis: workers store it, the gallery's live view reads it."""

from __future__ import annotations

import numpy as np
import redis

from amyplant_queue.frames import encode_jpeg

ANNOTATED_KEY = "amyplant:camera:{camera_id}:annotated"
ANNOTATED_AT_KEY = "amyplant:camera:{camera_id}:annotated:at"

# Keep the newest frame only: two workers may finish a camera's frames out of order, and the live view
# must not step back to an older picture. Compare capture times and write both keys atomically.
_STORE_IF_NEWER = """
local current = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[2]) <= current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""


class AnnotatedFrames:
    """Each camera's latest annotated frame in Redis, as JPEG, with a TTL."""

    def __init__(self, client: redis.Redis, *, ttl_s: int, jpeg_quality: int = 80) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self.jpeg_quality = jpeg_quality
        self._store = client.register_script(_STORE_IF_NEWER)

    def store(self, camera_id: str, image_rgb: np.ndarray, *, captured_at: float) -> bool:
        """Keep the frame unless a newer one is already stored; returns whether it was kept."""
        jpeg = encode_jpeg(image_rgb, quality=self.jpeg_quality)
        keys = [ANNOTATED_KEY.format(camera_id=camera_id), ANNOTATED_AT_KEY.format(camera_id=camera_id)]
        return bool(self._store(keys=keys, args=[jpeg, repr(float(captured_at)), self.ttl_s]))

    def load(self, camera_id: str) -> bytes | None:
        data = self.redis.get(ANNOTATED_KEY.format(camera_id=camera_id))
        return bytes(data) if data is not None else None  # type: ignore[arg-type]
