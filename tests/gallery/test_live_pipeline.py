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
    # The same clip twice: as the workers run it (settled tracks' faces are not analysed again) and with
    # every face of every frame analysed, on two cameras; recognition must not suffer from the saving.
    processors = {
        camera: build_processor(
            WorkerSettings(common=common, track_refresh_s=refresh_s),
            redis_url=redis_url,
            database_url=clean_gallery,
        )
        for camera, refresh_s in (("stage", 1.0), ("stage-full", 0.0))
    }
    results = {}
    for camera, camera_processor in processors.items():
        camera_messages = _clip_messages(
            redis_client, video / "short_hamilton_clip.mp4", camera=camera, run_id="run1"
        )
        assert len(camera_messages) >= 40
        results[camera] = [camera_processor.process(message) for message in camera_messages]
        assert not redis_client.exists(camera_messages[0].frame_key), "a handled frame stays pending"
        if camera == "stage":
            processor, messages = camera_processor, camera_messages
    assert sum(result.faces for result in results["stage"]) > 20
    repeated = sum(result.repeated for result in results["stage"])
    print("faces repeated, not analysed again:", repeated, "of", sum(r.faces for r in results["stage"]))
    assert repeated > 0 and not any(result.repeated for result in results["stage-full"])
    assert [r.faces for r in results["stage"]] == [r.faces for r in results["stage-full"]]

    events = {camera: _events(clean_gallery, camera) for camera in processors}
    print("events:", events)
    for camera, rows in events.items():
        named = [name for name, _ in rows if name]
        assert named.count("lin-manuel-miranda") >= 1, camera
        # One event per track, not per frame: the singer's close-up spans many frames.
        assert named.count("lin-manuel-miranda") <= 3, camera
        assert len(rows) < len(messages), camera
        # Nobody else from the gallery is on stage: any other name would be a wrong one.
        assert set(named) <= {"lin-manuel-miranda", "alex-lacamoire"}, camera
    unnamed = {camera: sum(1 for name, _ in rows if name is None) for camera, rows in events.items()}
    assert unnamed["stage"] <= unnamed["stage-full"]
    rows = events["stage"] + events["stage-full"]

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


def _events(database_url: str, camera: str) -> list[tuple[str | None, float]]:
    """(person's name or None, face size) of every event of the camera."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "select p.name, e.size_px from events e left join people p on p.id = e.person_id"
                    " where e.camera_id = :camera order by e.id"
                ),
                {"camera": camera},
            ).all()
    finally:
        engine.dispose()
    return [(row.name, round(float(row.size_px))) for row in rows]
