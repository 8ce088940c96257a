"""The /metrics HTTP exporter of a service's own registry, in a daemon thread."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

logger = logging.getLogger(__name__)


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
