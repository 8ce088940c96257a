"""`amyplant capture`: one process serving one or several cameras, each in its own thread."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from amyplant_capture.camera_loop import CameraCapture, CameraState
from amyplant_capture.cameras import CameraConfig
from amyplant_capture.collect import FrameCollector
from amyplant_capture.metrics import CaptureMetrics
from amyplant_config.discovery import resolve_urls
from amyplant_config.settings import CaptureSettings
from amyplant_queue.camera_status import CameraStats, publish_statuses
from amyplant_queue.celery_app import FRAMES_QUEUE, create_celery_app
from amyplant_telemetry.exporter import Exporter, start_exporter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectOptions:
    """Collection mode: save every `every`-th frame of each camera into `folder`; nothing goes to workers."""

    folder: Path
    every: int


class CaptureService:
    """Starts a CameraCapture per camera; run() returns when every camera ended or stop() was called."""

    def __init__(
        self, settings: CaptureSettings, cameras: list[CameraConfig], *, collect: CollectOptions | None = None
    ) -> None:
        if not cameras:
            raise ValueError("no camera to capture: give --camera/--source or a cameras file")
        self.settings = settings
        self.redis: redis.Redis | None = None
        celery = None
        if collect is None:
            redis_url, _ = resolve_urls(settings.common)
            self.redis = redis.Redis.from_url(redis_url)
            celery = create_celery_app(redis_url=redis_url)
        self.captures = [
            CameraCapture(
                camera,
                redis_client=self.redis,
                celery=celery,
                frame_ttl_s=settings.common.frame_ttl_s,
                max_pending=settings.max_pending_frames,
                jpeg_quality=settings.jpeg_quality,
                collector=FrameCollector(collect.folder, camera_id=camera.id, every=collect.every)
                if collect is not None
                else None,
            )
            for camera in cameras
        ]
        self.metrics = CaptureMetrics(
            self, states=[str(state) for state in CameraState], redis_client=self.redis, queues=[FRAMES_QUEUE]
        )

    def camera_stats(self) -> list[CameraStats]:
        return [capture.counters.stats(capture.camera.id) for capture in self.captures]

    def run(self) -> int:
        exporter = start_exporter(
            self.metrics.registry, host=self.settings.metrics_host, port=self.settings.metrics_port
        )
        threads = [
            threading.Thread(target=capture.run, name=f"camera-{capture.camera.id}", daemon=True)
            for capture in self.captures
        ]
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                self._publish_status()
                # Returns early when every camera has ended (or stop() ended them).
                deadline = time.monotonic() + self.settings.status_interval_s
                for thread in threads:
                    thread.join(max(0.0, deadline - time.monotonic()))
        finally:
            self._publish_status()
            self._close(exporter)
        failed = 0
        for capture in self.captures:
            counters = capture.counters
            failed += counters.state is CameraState.FAILED
            logger.info(
                "camera %s: %s%s, captured %d, queued %d, dropped %d, collected %d, still %d",
                capture.camera.id,
                counters.state,
                f" ({counters.last_error})" if counters.last_error else "",
                counters.captured,
                counters.queued,
                counters.dropped,
                counters.collected,
                counters.still,
            )
        return 1 if failed == len(self.captures) else 0

    def stop(self) -> None:
        for capture in self.captures:
            capture.stop()

    def _publish_status(self) -> None:
        if self.redis is None:
            return
        try:
            ttl_s = max(5, round(self.settings.status_interval_s * 3))
            publish_statuses(self.redis, self.camera_stats(), ttl_s=ttl_s)
        except redis.RedisError as error:
            logger.debug("camera status not published: %s", error)  # the cameras show it as reconnecting

    def _close(self, exporter: Exporter | None) -> None:
        if exporter is not None:
            exporter.close()
        if self.redis is not None:
            self.redis.close()
