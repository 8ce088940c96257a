"""`amyplant capture`: one process serving one or several cameras, each in its own thread."""

from __future__ import annotations

import logging
import threading

import redis

from amyplant.core.settings import CaptureSettings
from amyplant.core.stack import resolve_urls
from amyplant.services.capture.camera_loop import CameraCapture
from amyplant.services.capture.cameras import CameraConfig
from amyplant.services.inference.celery_app import create_celery_app

logger = logging.getLogger(__name__)


class CaptureService:
    """Starts a CameraCapture per camera; run() returns when every camera ended or stop() was called."""

    def __init__(self, settings: CaptureSettings, cameras: list[CameraConfig]) -> None:
        if not cameras:
            raise ValueError("no camera to capture: give --camera/--source or a cameras file")
        redis_url, _ = resolve_urls(settings.common)
        self.redis = redis.Redis.from_url(redis_url)
        self.celery = create_celery_app(redis_url=redis_url)
        self.captures = [
            CameraCapture(
                camera, redis_client=self.redis, celery=self.celery,
                frame_ttl_s=settings.common.frame_ttl_s, max_pending=settings.max_pending_frames,
                jpeg_quality=settings.jpeg_quality,
            )
            for camera in cameras
        ]

    def run(self) -> int:
        threads = [
            threading.Thread(target=capture.run, name=f"camera-{capture.camera.id}", daemon=True)
            for capture in self.captures
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for capture in self.captures:
            counters = capture.counters
            logger.info("camera %s: %s, captured %d, queued %d, dropped %d", capture.camera.id,
                        counters.state, counters.captured, counters.queued, counters.dropped)
        return 0

    def stop(self) -> None:
        for capture in self.captures:
            capture.stop()
