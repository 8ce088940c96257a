"""The capture service: collection mode, camera state with reasons, metrics over HTTP, status in Redis."""

from __future__ import annotations

import base64
import itertools
import json
import socket
from pathlib import Path

import cv2
import httpx
import numpy as np
import redis
from prometheus_client import generate_latest

from amyplant_capture.cameras import CameraConfig
from amyplant_capture.motion import MotionConfig
from amyplant_capture.service import CaptureService, CollectOptions
from amyplant_config.settings import CaptureSettings, CommonSettings, Environment
from amyplant_queue.camera_status import read_statuses
from amyplant_queue.celery_app import FRAMES_QUEUE
from amyplant_queue.messages import FrameMessage, decode_frame_message
from amyplant_telemetry.exporter import start_exporter


def image_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        image = np.full((120, 160, 3), index * 20, dtype=np.uint8)
        cv2.imwrite(str(folder / f"frame{index:03d}.png"), image)
    return folder


def settings(redis_url: str | None = None) -> CaptureSettings:
    common = CommonSettings(
        environment=Environment.DEVELOPMENT,
        redis_url=redis_url,
        database_url="postgresql://unused.invalid/none",
    )
    return CaptureSettings(common=common, status_interval_s=0.2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape_metrics(service: CaptureService) -> str:
    """The capture's Prometheus page, from an exporter started for the call."""
    exporter = start_exporter(service.metrics.registry, host="127.0.0.1", port=free_port())
    assert exporter is not None
    try:
        return httpx.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=5).text
    finally:
        exporter.close()


def queued_message(entry: bytes) -> FrameMessage:
    """The frame message inside one entry of the Celery queue (kombu's JSON envelope, base64 body)."""
    envelope = json.loads(entry)
    args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    return decode_frame_message(args[0])


def camera(source: Path | str, camera_id: str = "cam1", *, motion: bool = False) -> CameraConfig:
    """A camera reading `source` as fast as it can; motion gating off unless asked (these frames are flat
    greys that would not count as motion)."""
    return CameraConfig(
        id=camera_id,
        source=str(source),
        realtime=False,
        detect_fps=60,
        motion=MotionConfig(enabled=motion, heartbeat_s=0),
    )


def test_collection_mode_saves_every_nth_frame_named_by_camera_and_time(tmp_path: Path) -> None:
    source = image_folder(tmp_path / "source", 10)
    dataset = tmp_path / "dataset"
    service = CaptureService(settings(), [camera(source)], collect=CollectOptions(dataset, every=3))
    assert service.run() == 0
    files = sorted(dataset.iterdir())
    assert len(files) == 4  # frames 1, 4, 7 and 10
    assert all(f.name.startswith("cam1_") and f.suffix == ".jpg" for f in files)
    brightness = []
    for f in files:
        image = cv2.imread(str(f))
        assert image is not None, f"cannot read {f}"
        brightness.append(int(image.mean()))
    assert brightness == sorted(brightness)  # name order is capture order: 0, 60, 120, 180
    exposition = generate_latest(service.metrics.registry).decode()
    assert 'amyplant_frames_collected_total{camera="cam1"} 4.0' in exposition
    assert 'amyplant_frames_captured_total{camera="cam1"} 10.0' in exposition
    assert 'amyplant_camera_state{camera="cam1",state="ended"} 1.0' in exposition


def test_a_missing_source_fails_with_its_reason(tmp_path: Path) -> None:
    service = CaptureService(
        settings(), [camera(tmp_path / "nowhere.mp4")], collect=CollectOptions(tmp_path / "dataset", every=1)
    )
    assert service.run() == 1
    stats = service.camera_stats()[0]
    assert stats.state == "failed" and stats.reason is not None and "no such file" in stats.reason
    exposition = generate_latest(service.metrics.registry).decode()
    assert 'amyplant_camera_state{camera="cam1",state="failed"} 1.0' in exposition
    assert 'amyplant_camera_error_info{camera="cam1",reason=' in exposition


def test_frames_are_queued_and_status_and_queue_depth_are_visible(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    source = image_folder(tmp_path / "source", 5)
    service = CaptureService(settings(redis_url), [camera(source, "porch")])
    assert service.run() == 0
    statuses = read_statuses(redis_client)
    assert [(s.camera_id, s.state, s.queued) for s in statuses] == [("porch", "ended", 5)]
    text = scrape_metrics(service)
    assert f'amyplant_queue_depth{{queue="{FRAMES_QUEUE}"}} 5.0' in text
    assert 'amyplant_frames_queued_total{camera="porch"} 5.0' in text
    # Played faster than real time, the frames keep the source's own timeline (a folder: 1 s a frame).
    entries: list[bytes] = redis_client.lrange(FRAMES_QUEUE, 0, -1)  # type: ignore[assignment]
    messages = [queued_message(entry) for entry in entries]
    times = sorted(message.captured_at for message in messages)
    assert [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)] == [1.0] * 4


def test_frames_without_motion_are_counted_not_queued(
    tmp_path: Path, redis_client: redis.Redis, redis_url: str
) -> None:
    source = tmp_path / "doorway"
    source.mkdir()
    rng = np.random.default_rng(7)
    empty = rng.integers(60, 200, (240, 320, 3), dtype=np.uint8)
    for index in range(12):
        frame = np.clip(empty + rng.normal(0, 3, empty.shape), 0, 255).astype(np.uint8)
        if 5 <= index < 8:  # someone passes
            frame[60:200, 40 + 60 * (index - 5) : 120 + 60 * (index - 5)] = 15
        cv2.imwrite(str(source / f"frame{index:03d}.png"), frame)
    still_camera = camera(source, "doorway", motion=True)
    still_camera.motion.keep_moving_frames = 0
    service = CaptureService(settings(redis_url), [still_camera])
    assert service.run() == 0
    [status] = read_statuses(redis_client)
    # The first frame (a run always starts by looking) and the three with the passer-by are sent; the
    # background learnt little of the passer-by, so the empty frames after are still again.
    assert (status.captured, status.queued, status.still) == (12, 4, 8)
    assert int(redis_client.llen(FRAMES_QUEUE)) == 4
    text = scrape_metrics(service)
    assert 'amyplant_frames_still_total{camera="doorway"} 8.0' in text


def test_a_busy_metrics_port_is_reported_not_fatal(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        service = CaptureService(
            settings(),
            [camera(image_folder(tmp_path / "s", 1))],
            collect=CollectOptions(tmp_path / "d", every=1),
        )
        assert start_exporter(service.metrics.registry, host="127.0.0.1", port=taken.getsockname()[1]) is None
        assert start_exporter(service.metrics.registry, host="127.0.0.1", port=0) is None  # 0: off
