"""Camera status in Redis: the capture publishes each camera's state and counters; health reads them back."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import redis
from pydantic import BaseModel

STATUS_KEY = "amyplant:camera:{camera_id}:status"
STATUS_PATTERN = "amyplant:camera:*:status"


@dataclass(frozen=True)
class CameraStats:
    """One camera's figures as the capture service keeps them."""

    camera_id: str
    state: str
    reason: str | None
    captured: int
    queued: int
    dropped: int
    reconnects: int
    pending: int
    collected: int = 0
    still: int = 0  # sampled frames without motion: counted, not sent to the workers


class CameraStatus(BaseModel):
    """One camera as its capture process last reported it."""

    camera_id: str
    state: str
    reason: str | None
    captured: int
    queued: int
    dropped: int
    reconnects: int
    pending: int
    collected: int
    still: int = 0
    updated_at: float

    @classmethod
    def from_stats(cls, stats: CameraStats, *, now: float | None = None) -> CameraStatus:
        return cls(**dataclasses.asdict(stats), updated_at=now or time.time())


def publish_statuses(client: redis.Redis, stats: list[CameraStats], *, ttl_s: int) -> None:
    """Write every camera's status; the TTL makes the cameras of a dead capture process disappear."""
    with client.pipeline(transaction=False) as pipe:
        for camera in stats:
            status = CameraStatus.from_stats(camera)
            pipe.set(STATUS_KEY.format(camera_id=camera.camera_id), status.model_dump_json(), ex=ttl_s)
        pipe.execute()


def read_statuses(client: redis.Redis) -> list[CameraStatus]:
    """Every camera status currently in Redis, by camera id."""
    statuses = []
    for key in client.scan_iter(match=STATUS_PATTERN, count=100):
        data = client.get(key)
        if data is not None:
            statuses.append(CameraStatus.model_validate_json(data))  # type: ignore[arg-type]
    return sorted(statuses, key=lambda status: status.camera_id)
