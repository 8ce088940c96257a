"""The real clip through the worker's frame processor: tracks become few events, never wrong names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from amyplant_config.settings import CommonSettings, Environment, WorkerSettings
from amyplant_inference.worker import build_processor
from amyplant_queue.frames import encode_jpeg, store_frame
from amyplant_queue.messages import FrameMessage, frame_key
from amyplant_store.database import create_engine
from tests.gallery.conftest import enroll_folder

pytestmark = pytest.mark.slow
FPS = 5


def _enroll_reference(client: TestClient, path: Path, name: str) -> None:
    created = client.post("/api/v1/people", json={"name": name})
    assert created.status_code == 201, created.text
    files = [("files", (path.name, path.read_bytes(), "image/png"))]
    response = client.post(f"/api/v1/people/{created.json()['id']}/faces", files=files)
    assert response.status_code == 201, response.text


def _clip_messages(client: redis.Redis, video: Path, *, camera: str, run_id: str) -> list[FrameMessage]:
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    start = datetime.now(UTC)
    messages, index, sequence = [], 0, 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % round(fps / FPS) == 0:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            key = frame_key(camera, sequence, run_id)
            store_frame(client, key=key, jpeg=encode_jpeg(rgb), ttl_s=600)
            messages.append(
                FrameMessage(
                    camera_id=camera,
                    sequence=sequence,
                    frame_key=key,
                    captured_at=start + timedelta(seconds=index / fps),
                    width=rgb.shape[1],
                    height=rgb.shape[0],
                    run_id=run_id,
                )
            )
            sequence += 1
        index += 1
    capture.release()
    return messages


def test_clip_names_the_singer_in_few_events_and_nobody_wrongly(
    model_client: TestClient,
    clean_gallery: str,
    redis_url: str,
    redis_client: redis.Redis,
    built_model_repo: Path,
    shared_data: Path,
) -> None:
    video = shared_data / "video"
    _enroll_reference(model_client, video / "lin-manuel-miranda.png", "lin-manuel-miranda")
    _enroll_reference(model_client, video / "alex-lacamoire.png", "alex-lacamoire")
    for person_dir in sorted((shared_data / "enroll").iterdir()):
        enroll_folder(model_client, person_dir)

    common = CommonSettings(
        environment=Environment.DEVELOPMENT,
        model_repository=built_model_repo,
        redis_url=redis_url,
        database_url=clean_gallery,
    )
    processor = build_processor(
        WorkerSettings(common=common), redis_url=redis_url, database_url=clean_gallery
    )
    messages = _clip_messages(redis_client, video / "short_hamilton_clip.mp4", camera="stage", run_id="run1")
    assert len(messages) >= 40
    results = [processor.process(message) for message in messages]
    assert sum(result.faces for result in results) > 20
    assert not redis_client.exists(messages[0].frame_key), "a handled frame stays pending"

    engine = create_engine(clean_gallery)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "select e.id, p.name, e.visitor_id, e.size_px from events e"
                    " left join people p on p.id = e.person_id"
                )
            ).all()
    finally:
        engine.dispose()
    named = [row.name for row in rows if row.name]
    print("events:", [(row.id, row.name, row.visitor_id, round(row.size_px)) for row in rows])
    assert named.count("lin-manuel-miranda") >= 1
    # One event per track, not per frame: the singer's close-up spans many frames.
    assert named.count("lin-manuel-miranda") <= 3
    assert len(rows) < len(messages)
    # Nobody else from the gallery is on stage: any other name would be a wrong one.
    assert set(named) <= {"lin-manuel-miranda", "alex-lacamoire"}

    # A frame redone after a worker died (acks_late) gives the same answer and writes no second event.
    replay = messages[len(messages) // 2]
    photo = video / "lin-manuel-miranda.png"
    bgr = cv2.imread(str(photo))
    assert bgr is not None, f"cannot read {photo}"
    store_frame(
        redis_client,
        key=replay.frame_key,
        jpeg=encode_jpeg(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)),
        ttl_s=60,
    )
    assert processor.process(replay).outcome == "replayed"
    engine = create_engine(clean_gallery)
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("select count(*) from events")).scalar_one() == len(rows)
    finally:
        engine.dispose()
