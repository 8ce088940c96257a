"""The length of the Celery queues, read from Redis when Prometheus scrapes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


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
