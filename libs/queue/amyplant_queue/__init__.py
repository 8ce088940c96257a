"""The queue contract between services: queue and task names, the Celery app, messages, Redis keys."""
