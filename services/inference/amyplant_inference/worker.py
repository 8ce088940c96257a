"""`amyplant worker`: one Celery inference worker process on the frames queue."""

from __future__ import annotations

import os
import socket

import numpy as np
import redis

from amyplant_config.discovery import resolve_urls
from amyplant_config.settings import WorkerSettings
from amyplant_faces.models.client import create_model_client
from amyplant_faces.pipeline.faces import FacePipeline
from amyplant_inference.alerts import AlertDispatcher, MqttPublisher, WebhookSender
from amyplant_inference.metrics import InstrumentedModels, WorkerMetrics
from amyplant_inference.processing import FrameProcessor
from amyplant_inference.recording import TrackRecorder
from amyplant_inference.reuse import ReusePolicy
from amyplant_inference.tasks import LazyProcessor, register_tasks
from amyplant_inference.threads import limit_threads
from amyplant_inference.track_store import TrackStore
from amyplant_inference.tracking import TrackerConfig
from amyplant_queue.annotated_frames import AnnotatedFrames
from amyplant_queue.celery_app import FRAMES_QUEUE, create_celery_app
from amyplant_store.database import create_engine
from amyplant_store.policy import GalleryPolicy
from amyplant_telemetry.exporter import start_exporter


def build_alerts(settings: WorkerSettings, client: redis.Redis) -> AlertDispatcher | None:
    """The webhook and MQTT channels that are configured; None when neither is."""
    webhook = None
    if settings.webhook_url:
        webhook = WebhookSender(
            settings.webhook_url,
            settings.webhook_secret,
            timeout_s=settings.webhook_timeout_s,
            retries=settings.webhook_retries,
        )
    publisher = None
    if settings.mqtt_url:
        publisher = MqttPublisher(
            settings.mqtt_url,
            topic_prefix=settings.mqtt_topic_prefix,
            discovery_prefix=settings.mqtt_discovery_prefix,
            username=settings.mqtt_username,
            password=settings.mqtt_password or None,
        )
        publisher.start()
    if webhook is None and publisher is None:
        return None
    return AlertDispatcher(client, webhook=webhook, mqtt_publisher=publisher)


def build_processor(
    settings: WorkerSettings, *, redis_url: str, database_url: str, metrics: WorkerMetrics | None = None
) -> FrameProcessor:
    """Everything one worker process needs to handle frames; created once per process."""
    client = redis.Redis.from_url(redis_url)
    models = create_model_client(settings.common)
    if metrics is not None:
        models = InstrumentedModels(models, metrics)
    policy = GalleryPolicy(match_threshold=settings.match_threshold)
    config = TrackerConfig(
        match_threshold=policy.match_threshold,
        max_gap_s=settings.track_max_gap_s,
        min_hits=settings.track_min_hits,
    )
    return FrameProcessor(
        redis=client,
        pipeline=FacePipeline(models),
        models=models,
        engine=create_engine(database_url),
        tracks=TrackStore(client, config),
        recorder=TrackRecorder(policy=policy, alerts=build_alerts(settings, client)),
        annotated=AnnotatedFrames(client, ttl_s=settings.annotated_ttl_s),
        reuse=ReusePolicy(refresh_s=settings.track_refresh_s),
        metrics=metrics,
    )


class InferenceWorker:
    """Runs a Celery worker (solo pool: one frame at a time per process; scale with processes)."""

    def __init__(self, settings: WorkerSettings, *, name: str | None = None) -> None:
        self.settings = settings
        limit_threads(settings.threads, in_process_models=settings.common.model_server is None)
        self.redis_url, self.database_url = resolve_urls(settings.common)
        self.name = name or f"worker-{os.getpid()}@{socket.gethostname()}"
        self.app = create_celery_app(
            redis_url=self.redis_url, visibility_timeout_s=settings.visibility_timeout_s
        )
        self.metrics = WorkerMetrics(redis_client=redis.Redis.from_url(self.redis_url), queues=[FRAMES_QUEUE])
        self.processor = LazyProcessor(
            lambda: build_processor(
                settings, redis_url=self.redis_url, database_url=self.database_url, metrics=self.metrics
            )
        )
        register_tasks(self.app, self.processor)

    def warm_up(self) -> None:
        """Load the models and run them once before taking frames, so the first frames are not late."""
        processor = self.processor.get()
        processor.models.warm_up()
        # A blank frame has no face, so the embedder and attributes models are run on blank chips too:
        # each model's first call pays TensorFlow's graph optimisation, seconds on a small CPU.
        processor.pipeline.analyse(np.zeros((480, 640, 3), dtype=np.uint8))
        processor.models.embed(np.zeros((1, 150, 150, 3), dtype=np.uint8))
        processor.models.attributes(np.zeros((1, 64, 64, 3), dtype=np.uint8))

    def run(self) -> int:
        self.warm_up()
        start_exporter(
            self.metrics.registry, host=self.settings.metrics_host, port=self.settings.metrics_port
        )
        queues = ",".join(dict.fromkeys([self.settings.queue, FRAMES_QUEUE]))
        self.app.worker_main(
            [
                "worker",
                "--pool=solo",
                f"--queues={queues}",
                f"--hostname={self.name}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ]
        )
        return 0

    def stop(self) -> None:
        self.app.control.shutdown(destination=[self.name])
