"""One camera's capture loop: sample frames, store them in Redis, queue a reference, bound the backlog."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import cv2
import numpy as np
import redis
from celery import Celery
from kombu.exceptions import OperationalError

from amyplant_capture.cameras import CameraConfig
from amyplant_capture.collect import FrameCollector
from amyplant_capture.motion import MotionGate, Verdict, heartbeat_phase
from amyplant_capture.sources import SourceError, open_frames
from amyplant_queue.camera_status import CameraStats
from amyplant_queue.celery_app import PROCESS_FRAME_TASK
from amyplant_queue.frames import encode_jpeg, store_frame
from amyplant_queue.messages import FrameMessage, frame_key

logger = logging.getLogger(__name__)


class CameraState(StrEnum):
    STARTING = "starting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"


@dataclass
class CameraCounters:
    """What a camera has done so far; exposed in health and metrics."""

    captured: int = 0
    queued: int = 0
    dropped: int = 0
    reconnects: int = 0
    collected: int = 0
    still: int = 0
    state: CameraState = CameraState.STARTING
    last_error: str | None = None
    pending: deque[str] = field(default_factory=deque)

    def stats(self, camera_id: str) -> CameraStats:
        """A snapshot for metrics and health; the reason is given while the camera is not streaming."""
        troubled = self.state in (CameraState.RECONNECTING, CameraState.FAILED)
        return CameraStats(
            camera_id=camera_id,
            state=str(self.state),
            reason=self.last_error if troubled else None,
            captured=self.captured,
            queued=self.queued,
            dropped=self.dropped,
            reconnects=self.reconnects,
            pending=len(self.pending),
            collected=self.collected,
            still=self.still,
        )


def _classify(error: Exception) -> tuple[str, bool]:
    """The reason to show for a failure, and whether retrying is pointless."""
    if isinstance(error, SourceError):
        return str(error), error.permanent
    if isinstance(error, cv2.error):
        return f"OpenCV: {error}", False
    if isinstance(error, redis.RedisError | OperationalError):
        return f"Redis: {type(error).__name__}: {error}", False
    logger.error("unexpected capture failure", exc_info=error)
    return f"{type(error).__name__}: {error}", True


class CameraCapture:
    """Runs one camera until stop(); reopens a failed stream with exponential backoff.

    Without Redis and Celery it only collects (collection mode: `collector` saves every Nth frame).
    """

    def __init__(
        self,
        camera: CameraConfig,
        *,
        redis_client: redis.Redis | None,
        celery: Celery | None,
        frame_ttl_s: int,
        max_pending: int,
        jpeg_quality: int = 90,
        max_reconnect_delay_s: float = 30.0,
        collector: FrameCollector | None = None,
    ) -> None:
        self.camera = camera
        self.redis = redis_client
        self.celery = celery
        self.collector = collector
        self.frame_ttl_s = frame_ttl_s
        self.max_pending = max_pending
        self.jpeg_quality = jpeg_quality
        self.max_reconnect_delay_s = max_reconnect_delay_s
        self.counters = CameraCounters()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            run_id = uuid.uuid4().hex[:12]
            captured_before = self.counters.captured
            try:
                self._play(run_id)
            except Exception as error:  # every failure is classified; none may end the thread unseen
                reason, permanent = _classify(error)
                if permanent:
                    self._fail(reason)
                    return
                if self.counters.captured > captured_before:
                    delay = 1.0  # it streamed for a while: start the backoff afresh
                self._reconnecting(reason, delay)
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, self.max_reconnect_delay_s)
                continue
            delay = 1.0
            if not self.camera.loop:
                self.counters.state = CameraState.ENDED
                return

    def _reconnecting(self, reason: str, delay: float) -> None:
        self.counters.state = CameraState.RECONNECTING
        self.counters.last_error = reason
        self.counters.reconnects += 1
        logger.warning("camera %s: %s; reopening in %.0f s", self.camera.id, reason, delay)

    def _fail(self, reason: str) -> None:
        self.counters.state = CameraState.FAILED
        self.counters.last_error = reason
        logger.error("camera %s failed: %s", self.camera.id, reason)

    def _play(self, run_id: str) -> None:
        interval = 1.0 / self.camera.detect_fps
        next_due = 0.0
        sequence = 0
        # A file played faster than real time keeps its own timeline (run start + position in the file),
        # so tracks end after gaps of the recording and events carry its times, not the queueing rate's.
        started = datetime.now(UTC) if not self.camera.realtime else None
        # A new background model each run: after a reconnect the scene may have changed.
        gate = (
            MotionGate(self.camera.motion, heartbeat_phase=heartbeat_phase(self.camera.id))
            if self.camera.motion.enabled
            else None
        )
        for position, frame in open_frames(self.camera.source, realtime=self.camera.realtime):
            if self._stopping.is_set():
                return
            self.counters.state = CameraState.STREAMING
            self.counters.captured += 1
            if self.collector is not None and self.collector.offer(self._resize(frame)) is not None:
                self.counters.collected += 1
            if self.redis is None or position + 1e-6 < next_due:
                continue
            next_due = max(next_due + interval, position)
            sampled = self._resize(frame)
            if gate is not None and gate.check(sampled, at=position) in (Verdict.STILL, Verdict.LIGHTING):
                self.counters.still += 1
                continue
            captured_at = started + timedelta(seconds=position) if started is not None else datetime.now(UTC)
            self._queue(sampled, run_id=run_id, sequence=sequence, captured_at=captured_at)
            sequence += 1

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        width = frame.shape[1]
        if self.camera.max_width is None or width <= self.camera.max_width:
            return frame
        scale = self.camera.max_width / width
        return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def _queue(self, frame: np.ndarray, *, run_id: str, sequence: int, captured_at: datetime) -> None:
        assert self.redis is not None and self.celery is not None
        key = frame_key(self.camera.id, sequence, run_id)
        store_frame(
            self.redis, key=key, jpeg=encode_jpeg(frame, quality=self.jpeg_quality), ttl_s=self.frame_ttl_s
        )
        message = FrameMessage(
            camera_id=self.camera.id,
            sequence=sequence,
            frame_key=key,
            captured_at=captured_at,
            width=frame.shape[1],
            height=frame.shape[0],
            run_id=run_id,
        )
        self.celery.send_task(PROCESS_FRAME_TASK, args=[message.model_dump(mode="json")])
        self.counters.queued += 1
        self.counters.pending.append(key)
        self._bound_backlog()

    def _bound_backlog(self) -> None:
        """Frames still under their key wait for a worker (a worker takes a frame by renaming its key,
        amyplant_queue.frames); when too many wait, drop the oldest. A frame a worker took is neither
        dropped nor counted here."""
        assert self.redis is not None
        pending = self.counters.pending
        while pending and not self.redis.exists(pending[0]):
            pending.popleft()
        while len(pending) > self.max_pending:
            oldest = pending.popleft()
            # Deleting the frame makes the worker skip it at once; the queue entry itself is tiny. A frame
            # taken meanwhile is not deleted (its key was renamed), so only frames no worker took count.
            if self.redis.delete(oldest):
                self.counters.dropped += 1
