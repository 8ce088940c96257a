"""The inference worker's Prometheus registry (frames, stage latencies, faces, matches) and timed models."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import redis
from prometheus_client import CollectorRegistry, Counter, Histogram

from amyplant_faces.models.client import (
    ATTRIBUTES,
    DETECTOR,
    EMBEDDER,
    SERVING_SIGNATURE,
    ModelClient,
    RuntimeStatus,
)
from amyplant_telemetry.queue_depth import QueueDepthCollector

# Stage latencies at ~5 fps per camera: from a millisecond (matching) to a few seconds (a cold model).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MODEL_STAGES = {DETECTOR: "detect", EMBEDDER: "embed", ATTRIBUTES: "attributes"}


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
        self.stage_cpu_seconds = Histogram(
            "amyplant_stage_cpu_seconds",
            "CPU time of this worker process (all its threads) during one stage of a frame.",
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
        self.repeated_faces = Counter(
            "amyplant_repeated_faces",
            "Faces of settled tracks that were detected but not analysed again (work per track).",
            ["camera"],
            registry=self.registry,
        )
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
        """Time a block as one stage, wall and CPU: `with metrics.stage("match"): ...`. Stages nest (the
        model calls inside "describe"); the CPU time is the whole process's, so it counts TensorFlow's
        threads too (and, with concurrent frames in one process, theirs)."""
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.stage_seconds.labels(name).observe(time.perf_counter() - started)
            self.stage_cpu_seconds.labels(name).observe(time.process_time() - cpu_started)


class InstrumentedModels(ModelClient):
    """A ModelClient that times every model call as a stage (detect, embed, attributes) and delegates."""

    def __init__(self, inner: ModelClient, metrics: WorkerMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    @property
    def address(self) -> str:
        return self.inner.address

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        signature: str = SERVING_SIGNATURE,
    ) -> dict[str, np.ndarray]:
        with self.metrics.stage(MODEL_STAGES.get(model, model)):
            return self.inner.predict(model, inputs, version=version, signature=signature)

    def status(self) -> RuntimeStatus:
        return self.inner.status()

    def warm_up(self) -> None:
        self.inner.warm_up()

    def close(self) -> None:
        self.inner.close()
