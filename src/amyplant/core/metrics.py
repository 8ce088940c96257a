"""Prometheus metrics: an explicit registry per service process, collectors read at scrape time, an exporter.

Each service builds its own metrics object around its own CollectorRegistry (never prometheus_client's
global one), so tests and several services in one process do not share counters. Values that a service
already keeps (the capture's per-camera counters, Redis queue lengths) are read when Prometheus scrapes,
through collectors, rather than copied into a second set of counters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from wsgiref.simple_server import WSGIServer

import numpy as np
import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from amyplant.models.client import ATTRIBUTES, DETECTOR, EMBEDDER, ModelClient, RuntimeStatus

logger = logging.getLogger(__name__)

# Stage latencies at ~5 fps per camera: from a millisecond (matching) to a few seconds (a cold model).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MODEL_STAGES = {DETECTOR: "detect", EMBEDDER: "embed", ATTRIBUTES: "attributes"}


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
            "collected": CounterMetricFamily(
                "amyplant_frames_collected",
                "Frames saved to a dataset folder (collection mode).",
                labels=["camera"],
            ),
        }
        pending = GaugeMetricFamily(
            "amyplant_camera_pending_frames", "Frames queued and not yet handled.", labels=["camera"]
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


class QueueDepthCollector(Collector):
    """Length of the Celery queues in Redis (kombu keeps a queue as a Redis list of its name)."""

    def __init__(self, client: redis.Redis, queues: Sequence[str]) -> None:
        self.client = client
        self.queues = tuple(queues)

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "amyplant_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        for name in self.queues:
            try:
                depth.add_metric([name], float(self.client.llen(name)))  # type: ignore[arg-type]
            except redis.RedisError as problem:
                # An unreachable broker shows as a missing series, not a failed scrape.
                logger.debug("queue depth of %s unavailable: %s", name, problem)
        yield depth


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


class WorkerMetrics:
    """The inference worker's registry: frames, stage latencies, faces, matches, unknowns, alerts."""

    def __init__(self, *, redis_client: redis.Redis | None = None, queues: Sequence[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.frames_processed = Counter(
            "amyplant_frames_processed",
            "Frames handled by this worker, by outcome (done, skipped, stale).",
            ["camera", "outcome"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "amyplant_stage_seconds",
            "Time spent in one stage of a frame (decode, detect, embed, match).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.capture_to_result_seconds = Histogram(
            "amyplant_capture_to_result_seconds",
            "From capture to the frame's tracks being written.",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.faces = Counter("amyplant_faces", "Faces found.", ["camera"], registry=self.registry)
        self.matches = Counter(
            "amyplant_matches", "Faces matched to an enrolled person.", ["camera"], registry=self.registry
        )
        self.unknowns = Counter(
            "amyplant_unknowns", "Faces that matched nobody enrolled.", ["camera"], registry=self.registry
        )
        self.alerts = Counter(
            "amyplant_alerts",
            "Alerts sent, by channel and outcome.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        if redis_client is not None and queues:
            self.registry.register(QueueDepthCollector(redis_client, queues))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a block as one stage: `with metrics.stage("match"): ...`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(name).observe(time.perf_counter() - started)


class InstrumentedModels(ModelClient):
    """A ModelClient that times every model call as a stage (detect, embed, attributes) and delegates."""

    def __init__(self, inner: ModelClient, metrics: WorkerMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    @property
    def address(self) -> str:
        return self.inner.address

    def predict(
        self, model: str, inputs: Mapping[str, np.ndarray], *, version: int | None = None
    ) -> dict[str, np.ndarray]:
        with self.metrics.stage(MODEL_STAGES.get(model, model)):
            return self.inner.predict(model, inputs, version=version)

    def status(self) -> RuntimeStatus:
        return self.inner.status()

    def warm_up(self) -> None:
        self.inner.warm_up()

    def close(self) -> None:
        self.inner.close()


@dataclass
class Exporter:
    """A running /metrics HTTP server; close() stops it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_exporter(registry: CollectorRegistry, *, host: str, port: int) -> Exporter | None:
    """Serve the registry over HTTP in a daemon thread; port 0 means off. A busy port is logged, not fatal."""
    if port == 0:
        return None
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        logger.warning("metrics exporter not started on %s:%d: %s", host, port, error)
        return None
    logger.info("metrics on http://%s:%d/metrics", host, port)
    return Exporter(server, thread)
