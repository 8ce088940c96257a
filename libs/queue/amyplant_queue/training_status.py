"""Training job state in Redis, shared by the trainer (writes progress) and the API (reads, cancels)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

JOB_KEY = "amyplant:training:{job_id}"
CANCEL_KEY = "amyplant:training:{job_id}:cancel"
JOBS_INDEX = "amyplant:training:jobs"
KEEP_S = 7 * 24 * 3600


class TrainingStatusStore:
    """One JSON document per job: state, stage, per-epoch metrics, gate result, error."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, job_id: str, request: dict[str, Any]) -> None:
        self._write(
            job_id,
            {
                "job_id": job_id,
                "state": "queued",
                "request": request,
                "epochs": [],
                "created_at": time.time(),
            },
        )
        self.redis.zadd(JOBS_INDEX, {job_id: time.time()})

    def get(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(JOB_KEY.format(job_id=job_id))
        return json.loads(raw) if raw else None  # type: ignore[arg-type]

    def list_recent(self, limit: int = 20) -> list[dict[str, Any]]:
        ids = self.redis.zrevrange(JOBS_INDEX, 0, limit - 1)
        jobs = (self.get(job_id.decode()) for job_id in ids)  # type: ignore[union-attr]
        return [job for job in jobs if job is not None]

    def update(self, job_id: str, **fields: Any) -> None:
        document = self.get(job_id) or {"job_id": job_id, "epochs": []}
        document.update(fields, updated_at=time.time())
        self._write(job_id, document)

    def add_epoch(self, job_id: str, metrics: dict[str, Any]) -> None:
        document = self.get(job_id) or {"job_id": job_id, "epochs": []}
        document["epochs"].append(metrics)
        document["updated_at"] = time.time()
        self._write(job_id, document)

    def request_cancel(self, job_id: str) -> None:
        self.redis.set(CANCEL_KEY.format(job_id=job_id), b"1", ex=KEEP_S)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(CANCEL_KEY.format(job_id=job_id)))

    def _write(self, job_id: str, document: dict[str, Any]) -> None:
        self.redis.set(JOB_KEY.format(job_id=job_id), json.dumps(document, default=str), ex=KEEP_S)
