"""The live routes (annotated frame, sightings stream, metrics) and the training routes, on real Redis."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from amyplant_queue.annotated_frames import AnnotatedFrames
from amyplant_queue.frames import decode_image
from amyplant_queue.live_feed import publish_sightings


def test_latest_annotated_frame_is_served_as_jpeg(bare_client: TestClient, redis_client: redis.Redis) -> None:
    assert bare_client.get("/api/v1/cameras/door/frame.jpg").json()["code"] == "no_live_frame"
    frame = np.full((48, 64, 3), 200, dtype=np.uint8)
    AnnotatedFrames(redis_client, ttl_s=30).store("door", frame, captured_at=time.time())
    response = bare_client.get("/api/v1/cameras/door/frame.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert decode_image(response.content).shape == (48, 64, 3)


def test_sightings_stream_delivers_what_workers_publish(
    bare_client: TestClient, redis_client: redis.Redis
) -> None:
    sighting = {"event_id": 7, "camera_id": "door", "status": "known", "person_name": "Alice"}

    def publish_soon() -> None:
        time.sleep(0.5)
        publish_sightings(redis_client, [sighting])

    threading.Thread(target=publish_soon, daemon=True).start()
    received = None
    with bare_client.stream("GET", "/api/v1/events/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                received = json.loads(line[len("data: ") :])
                break
    assert received == sighting


def test_metrics_report_queue_depth(bare_client: TestClient, redis_client: redis.Redis) -> None:
    redis_client.rpush("frames", b"x", b"y")
    text = bare_client.get("/metrics").text
    assert 'amyplant_queue_depth{queue="frames"} 2.0' in text


def test_training_can_be_started_followed_and_cancelled(
    bare_client: TestClient, redis_client: redis.Redis
) -> None:
    assert isinstance(bare_client.app, FastAPI)
    dataset = bare_client.app.state.context.settings.resolved_datasets_dir() / "door"
    dataset.mkdir(parents=True, exist_ok=True)
    started = bare_client.post("/api/v1/training", json={"dataset": str(dataset), "epochs": 2})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] == "queued" and job["request"]["epochs"] == 2
    assert redis_client.llen("training") == 1  # the request waits for `amyplant trainer`
    assert bare_client.get(f"/api/v1/training/{job['job_id']}").json()["state"] == "queued"
    assert [j["job_id"] for j in bare_client.get("/api/v1/training").json()] == [job["job_id"]]
    cancelled = bare_client.post(f"/api/v1/training/{job['job_id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert bare_client.get("/api/v1/training/0123456789abcdef").json()["code"] == "training_not_found"
    relative = bare_client.post("/api/v1/training", json={"dataset": "datasets/door"})
    assert relative.status_code == 422 and relative.json()["code"] == "dataset_path_not_absolute"
