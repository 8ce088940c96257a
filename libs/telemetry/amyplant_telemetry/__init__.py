"""Prometheus metrics shared by the services: the /metrics exporter and the queue-depth collector.

Each service builds its own metrics object around its own CollectorRegistry (never prometheus_client's
global one), so tests and several services in one process do not share counters. Values that a service
already keeps (the capture's per-camera counters, Redis queue lengths) are read when Prometheus scrapes,
through collectors, rather than copied into a second set of counters.
"""
