"""Per-frame cost profile of the worker, stage by stage, wall and CPU milliseconds, on one core.

Usage: python bench/frame_profile.py [--models DIR] [--fps 5] [--json FILE]

One process, one TensorFlow and OpenCV thread (AMYPLANT_WORKER_THREADS=1, set before any model loads),
the in-process model runtime, an embedded Redis and an embedded Postgres (pgvector) of its own, and the
gallery app in the same process to enroll the clip's two people and ../shared/data/enroll. The worker's
own FrameProcessor handles the shared clip at --fps frames per second of its timeline, twice, side by
side: as the workers run it (work per track: faces of settled tracks are not analysed again) and with
every face of every frame analysed (track_refresh_s 0). A few frames of another camera warm the models
up first; they are not counted.

The figures are the worker's own stage metrics (amyplant_stage_seconds and amyplant_stage_cpu_seconds,
services/inference/amyplant_inference/processing.py and metrics.py), divided by the frames handled:
read (taking the JPEG from Redis), decode, detect, plan (which faces need analysis), describe (landmarks,
chips, embeddings, attributes; its model calls are also listed on their own and `chips` is the rest), match
(the SQL nearest-sample search), track (the tracker update under its Redis lock), record (event rows,
alerts), publish (live feed), annotate (the live view's picture) and release. CPU time is this process's
(all its threads): the database's own CPU for `match` and `record` is not in it, their wall time is.
`ceiling_fps_per_core` = 1000 / CPU ms per frame. Prints one JSON document and writes it to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import redis

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "frame_profile.json"
ADMIN_KEY = "amyk_bench-frame-profile-admin-key-0123456789"
TOP_STAGES = (
    "read",
    "decode",
    "detect",
    "plan",
    "describe",
    "match",
    "track",
    "record",
    "publish",
    "annotate",
    "release",
)
MODEL_STAGES = ("face_landmarks", "embed", "attributes")
MODES = {"per_track": 1.0, "every_frame": 0.0}


def shared_data() -> Path:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(configured) if configured else REPO / ".." / "shared" / "data"
    if not path.is_dir():
        raise SystemExit(f"{path} is missing: this bench needs ../shared/data")
    return path


def clip_frames(video: Path, fps: float) -> list[tuple[float, Any]]:
    """(seconds into the clip, RGB frame) at `fps` frames per second of the clip's own timeline."""
    capture = cv2.VideoCapture(str(video))
    clip_fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    step = max(1, round(clip_fps / fps))
    frames, index = [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append((index / clip_fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        index += 1
    capture.release()
    return frames


def enroll(client: Any, data: Path) -> int:
    """The clip's two people and every folder of enroll/, through the gallery's API; samples enrolled."""
    people = {"lin-manuel-miranda": [data / "video" / "lin-manuel-miranda.png"]}
    people["alex-lacamoire"] = [data / "video" / "alex-lacamoire.png"]
    people.update({d.name: sorted(d.iterdir()) for d in sorted((data / "enroll").iterdir()) if d.is_dir()})
    samples = 0
    for name, files in people.items():
        created = client.post("/api/v1/people", json={"name": name})
        created.raise_for_status()
        uploads = [("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files]
        response = client.post(f"/api/v1/people/{created.json()['id']}/faces", files=uploads)
        response.raise_for_status()
        samples += int(response.json()["enrolled"])
    return samples


def run_camera(processor: Any, client: redis.Redis, frames: list[tuple[float, Any]], camera: str) -> int:
    """Every frame through the processor as camera `camera`; returns the faces seen."""
    from amyplant_queue.frames import encode_jpeg, store_frame
    from amyplant_queue.messages import FrameMessage, frame_key

    start = datetime.now(UTC)
    faces = 0
    for sequence, (position, frame) in enumerate(frames):
        key = frame_key(camera, sequence, "run1")
        store_frame(client, key=key, jpeg=encode_jpeg(frame), ttl_s=600)
        message = FrameMessage(
            camera_id=camera,
            sequence=sequence,
            frame_key=key,
            captured_at=start + timedelta(seconds=position),
            width=frame.shape[1],
            height=frame.shape[0],
            run_id="run1",
        )
        faces += processor.process(message).faces
    return faces


def stage_sums(metrics: Any) -> dict[tuple[str, str], float]:
    """Seconds spent so far per (wall or cpu, stage), from the worker's histograms."""
    sums: dict[tuple[str, str], float] = {}
    for family in metrics.registry.collect():
        if family.name not in ("amyplant_stage_seconds", "amyplant_stage_cpu_seconds"):
            continue
        kind = "cpu" if "cpu" in family.name else "wall"
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                sums[(kind, sample.labels["stage"])] = sample.value
    return sums


def stage_table(
    after: dict[tuple[str, str], float], before: dict[tuple[str, str], float], frames: int
) -> dict[str, Any]:
    """Per stage: wall and CPU ms per frame between two snapshots of the worker's histograms."""

    def per_frame(kind: str, stage: str) -> float:
        spent = after.get((kind, stage), 0.0) - before.get((kind, stage), 0.0)
        return round(1000 * spent / frames, 2)

    table = {
        stage: {"wall_ms": per_frame("wall", stage), "cpu_ms": per_frame("cpu", stage)}
        for stage in (*TOP_STAGES, *MODEL_STAGES)
    }
    table["chips"] = {
        kind: round(table["describe"][kind] - sum(table[s][kind] for s in MODEL_STAGES), 2)
        for kind in ("wall_ms", "cpu_ms")
    }
    totals = {kind: round(sum(table[s][kind] for s in TOP_STAGES), 2) for kind in ("wall_ms", "cpu_ms")}
    return {
        "per_frame_ms": table,
        "total_ms_per_frame": totals,
        "ceiling_fps_per_core": round(1000 / totals["cpu_ms"], 2) if totals["cpu_ms"] else None,
    }


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from amyplant_inference.threads import limit_threads

    limit_threads(1, in_process_models=True)  # before TensorFlow or OpenCV start any thread
    from fastapi.testclient import TestClient

    from amyplant.embedded.postgres_server import EmbeddedPostgres
    from amyplant.embedded.redis_server import EmbeddedRedis
    from amyplant_config.settings import CommonSettings, Environment, GallerySettings, WorkerSettings
    from amyplant_gallery.app import create_app
    from amyplant_inference.metrics import WorkerMetrics
    from amyplant_inference.worker import build_processor
    from amyplant_store.database import migrate

    data = shared_data()
    frames = clip_frames(data / "video" / "short_hamilton_clip.mp4", args.fps)
    redis_server, postgres = EmbeddedRedis(folder / "redis"), EmbeddedPostgres(folder / "postgres")
    redis_url, database_url = redis_server.start(), postgres.start()
    try:
        migrate(database_url)
        common = CommonSettings(
            environment=Environment.DEVELOPMENT,
            state_dir=folder / "state",
            database_url=database_url,
            redis_url=redis_url,
            model_repository=args.models.resolve(),
        )
        gallery = GallerySettings(common=common, api_key_pepper="bench-pepper", bootstrap_admin_key=ADMIN_KEY)
        with TestClient(create_app(gallery), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            samples = enroll(client, data)
        redis_client = redis.Redis.from_url(redis_url)
        result: dict[str, Any] = {
            "threads": 1,
            "fps_of_clip_timeline": args.fps,
            "frames": len(frames),
            "frame_size": list(frames[0][1].shape[1::-1]),
            "enrolled_samples": samples,
        }
        for mode, refresh_s in MODES.items():
            metrics = WorkerMetrics()
            settings = WorkerSettings(common=common, threads=1, track_refresh_s=refresh_s)
            processor = build_processor(
                settings, redis_url=redis_url, database_url=database_url, metrics=metrics
            )
            run_camera(processor, redis_client, frames[: args.warm_up], f"warm-{mode}")
            before = stage_sums(metrics)  # counted from here on
            faces = run_camera(processor, redis_client, frames, f"stage-{mode}")
            result[mode] = {"faces": faces, **stage_table(stage_sums(metrics), before, len(frames))}
            processor.engine.dispose()
        redis_client.close()
        per_track, every = result["per_track"], result["every_frame"]
        result["cpu_ratio_every_frame_vs_per_track"] = round(
            every["total_ms_per_frame"]["cpu_ms"] / per_track["total_ms_per_frame"]["cpu_ms"], 3
        )
        return result
    finally:
        postgres.stop()
        redis_server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    configured = os.environ.get("AMYPLANT_MODEL_REPOSITORY") or os.environ.get("AMYPLANT_TEST_MODEL_REPO")
    parser.add_argument(
        "--models", type=Path, default=Path(configured) if configured else REPO / ".cache" / "test-models"
    )
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second of the clip's timeline")
    parser.add_argument("--warm-up", type=int, default=5, help="frames run first and not counted")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not (args.models / "models.config").exists():
        parser.error(f"{args.models} holds no built models (amyplant models build)")
    with tempfile.TemporaryDirectory(prefix="amyplant-profile-") as folder:
        result = measure(args, Path(folder))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
