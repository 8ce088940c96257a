"""The capture process's Prometheus registry: per-camera counters, backlog and state, and queue depth."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import redis
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from amyplant_queue.camera_status import CameraStats
from amyplant_telemetry.queue_depth import QueueDepthCollector


class CameraStatsSource(Protocol):
    def camera_stats(self) -> list[CameraStats]: ...


class CameraCollector(Collector):
    """Per-camera counters, backlog and state (one 0/1 series per known state, so alerts can use them)."""

    def __init__(self, source: CameraStatsSource, states: Sequence[str]) -> None:
        self.source = source
        self.states = tuple(states)

    def collect(self) -> Iterable[Metric]:
        stats = self.source.camera_stats()
        counters = {
            "captured": CounterMetricFamily(
                "amyplant_frames_captured", "Frames read from the source.", labels=["camera"]
            ),
            "queued": CounterMetricFamily(
                "amyplant_frames_queued", "Frames sent to the workers.", labels=["camera"]
            ),
            "dropped": CounterMetricFamily(
                "amyplant_frames_dropped",
                "Queued frames dropped because the workers lagged.",
                labels=["camera"],
            ),
            "reconnects": CounterMetricFamily(
                "amyplant_camera_reconnects", "Times the source was reopened.", labels=["camera"]
            ),
            "still": CounterMetricFamily(
                "amyplant_frames_still",
                "Sampled frames without motion: counted, not sent to the workers.",
                labels=["camera"],
            ),
            "collected": CounterMetricFamily(
                "amyplant_frames_collected",
                "Frames saved to a dataset folder (collection mode).",
                labels=["camera"],
            ),
        }
        pending = GaugeMetricFamily(
            "amyplant_camera_pending_frames",
            "Frames queued and not yet taken by a worker.",
            labels=["camera"],
        )
        state = GaugeMetricFamily(
            "amyplant_camera_state", "1 for the camera's current state.", labels=["camera", "state"]
        )
        error = GaugeMetricFamily(
            "amyplant_camera_error_info",
            "The camera's last error (1 while it has one).",
            labels=["camera", "reason"],
        )
        for camera in stats:
            for name, family in counters.items():
                family.add_metric([camera.camera_id], getattr(camera, name))
            pending.add_metric([camera.camera_id], camera.pending)
            for name in self.states:
                state.add_metric([camera.camera_id, name], 1.0 if camera.state == name else 0.0)
            if camera.reason:
                error.add_metric([camera.camera_id, camera.reason[:200]], 1.0)
        yield from counters.values()
        yield from (pending, state, error)


class CaptureMetrics:
    """The capture process's registry: camera collectors and, when given Redis, the queue depth."""

    def __init__(
        self,
        source: CameraStatsSource,
        *,
        states: Sequence[str],
        redis_client: redis.Redis | None = None,
        queues: Sequence[str] = (),
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(CameraCollector(source, states))
        if redis_client is not None and queues:
            self.registry.register(QueueDepthCollector(redis_client, queues))
