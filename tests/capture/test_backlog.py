"""The capture's bounded backlog against workers that take frames: only frames no worker took are dropped
and counted; a taken frame is read again after a redelivery and released once."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import redis

from amyplant_capture.camera_loop import CameraCapture
from amyplant_capture.cameras import CameraConfig
from amyplant_queue.celery_app import create_celery_app
from amyplant_queue.frames import (
    FrameGone,
    encode_jpeg,
    frame_in_flight,
    release_frame,
    store_frame,
    take_frame,
    taken_key,
)
from amyplant_queue.messages import frame_key

FRAME = np.full((48, 64, 3), 90, dtype=np.uint8)


def test_frames_taken_by_a_worker_are_never_dropped_or_counted(
    redis_client: redis.Redis, redis_url: str
) -> None:
    capture = CameraCapture(
        CameraConfig(id="door", source="unused.mp4"),
        redis_client=redis_client,
        celery=create_celery_app(redis_url=redis_url),
        frame_ttl_s=60,
        max_pending=2,
    )
    keys = [frame_key("door", sequence, "run1") for sequence in range(5)]

    def queue(sequence: int) -> None:
        capture._queue(FRAME, run_id="run1", sequence=sequence, captured_at=datetime.now(UTC))

    queue(0)
    queue(1)
    take_frame(redis_client, keys[0])  # a worker is on frame 0 ...
    take_frame(redis_client, keys[1])  # ... and another on frame 1
    queue(2)
    queue(3)
    queue(4)  # three wait for a worker, the bound is two: frame 2 goes, and only it counts
    assert capture.counters.dropped == 1
    assert not frame_in_flight(redis_client, keys[2])
    assert all(frame_in_flight(redis_client, key) for key in (keys[0], keys[1], keys[3], keys[4]))
    assert list(capture.counters.pending) == keys[3:]
    release_frame(redis_client, keys[0])
    release_frame(redis_client, keys[1])
    assert not frame_in_flight(redis_client, keys[0])


def test_a_taken_frame_is_read_again_on_redelivery_and_released_once(redis_client: redis.Redis) -> None:
    key = frame_key("door", 7, "run1")
    with pytest.raises(FrameGone):
        take_frame(redis_client, key)
    store_frame(redis_client, key=key, jpeg=encode_jpeg(FRAME), ttl_s=60)
    first = take_frame(redis_client, key)
    assert not redis_client.exists(key) and redis_client.exists(taken_key(key))
    assert 0 < int(redis_client.ttl(taken_key(key))) <= 60  # type: ignore[arg-type]
    again = take_frame(redis_client, key)  # the first worker died; the task came back
    assert first.shape == again.shape == FRAME.shape
    assert np.abs(first.astype(int) - FRAME).max() <= 2
    release_frame(redis_client, key)
    assert not frame_in_flight(redis_client, key)
    with pytest.raises(FrameGone):
        take_frame(redis_client, key)
