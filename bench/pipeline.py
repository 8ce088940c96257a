"""Live pipeline benchmark: frames/s with 1 and 2 workers, capture-to-event latency, a 2x overload, memory.

Usage: python bench/pipeline.py [--overload-seconds 300] [--latency-seconds 45] [--stride 1] [--models DIR]
                                [--doorway-cameras 8] [--doorway-seconds 120]
                                [--logs DIR] [--output bench/results/pipeline.json]

Everything runs as the real processes, in one run, in a temporary state directory: `amyplant up` with no
workers (embedded Redis and Postgres, the gallery; the clip's two people and ../shared/data/enroll are
enrolled through the API), `amyplant worker` processes started here (each with its own metrics port) and
one `amyplant capture` per phase. Frames: short_hamilton_clip.mp4 (640x360) centred on black 640x480
frames (padded, not stretched, so faces keep their shape), re-encoded as MJPEG in the temporary folder,
--repeats times in a row (default 2); every phase and the peer read that file.

- fps_1_worker / fps_2_workers: the workers as `amyplant up --workers N` runs them, each with its share of
  the cores (AMYPLANT_WORKER_THREADS = cores // N; the 2-worker phase restarts worker 1 with its share), on
  a fixed backlog (every `stride`-th frame of the clip, queued at once by a
  capture with `realtime: false` and a backlog bound above the frame count); handled frames per second
  from the first completion after the capture has exited (and a tenth of the backlog is done) to the last.
- peer_fps: face_recognition (HOG face_locations, then face_encodings of every face) in this process on
  the same frames; run before the services start and again after the backlogs (workers idle), averaged.
- latency: the clip played at its own rate, looped, at a detect fps the two workers keep up with
  (half the measured rate, at most 5); per frame, from the moment its JPEG is stored in Redis to the
  moment the worker deletes it (the last step of handling, after tracks and events are written), both
  seen through Redis keyspace notifications. Cross-check: the share of frames at most 0.5 s in the
  workers' own amyplant_capture_to_result_seconds histogram.
- doorway: --doorway-cameras recordings (bench/motion.py's doorway: the clip's first frame held still with
  sensor noise and lighting changes, the clip itself about 10% of the time, shifted per camera), each at
  5 frames/s in real time with the capture's default motion gating, for --doorway-seconds; latency of every
  frame sent, frames sent and still, dropped. cameras_per_core_doorway is that camera count per core when
  nothing was dropped and p95 <= 250 ms (null otherwise): the count tested, not a maximum searched for.
- overload: twice the 2-worker rate, looped at the clip's own rate, split over as many cameras of one
  capture process as the clip's frame rate requires; the default backlog bound (10). `dropped` is the
  capture's count of frames no worker took (a worker takes a frame by renaming its key, so the capture
  cannot drop one being handled), cross-checked in Redis (`dropped_untaken_in_redis`, and
  `dropped_yet_handled`, which must be 0); `handled` comes from the workers' metrics. Every process's
  RSS (largest process of its tree) is sampled every --rss-interval s.
Prints one JSON line and writes it (indented) to --output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import redis

from amyplant.embedded.ports import free_loopback_port
from amyplant_config.cores import worker_threads
from amyplant_config.discovery import StackRecord
from amyplant_queue.celery_app import create_celery_app
from motion import clip_frames, doorway
from pipeline_probes import Children, FrameEvents, Sampler, alive, metric, scrape

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "pipeline.json"
ADMIN_KEY = "amyk_bench-pipeline-admin-key-0123456789"
WIDTH, HEIGHT = 640, 480
CAPTURE_COUNTS = re.compile(r"captured (\d+), queued (\d+), dropped (\d+), collected \d+, still (\d+)")
DOORWAY_FPS = 5.0


def shared_data() -> Path:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    return Path(configured) if configured else REPO / ".." / "shared" / "data"


def prepare_video(clip: Path, target: Path, repeats: int = 1) -> tuple[float, int]:
    """Write the clip padded to 640x480 as MJPEG, `repeats` times in a row; return its fps and the file's
    frame count."""
    source = cv2.VideoCapture(str(clip))
    fps = source.get(cv2.CAP_PROP_FPS)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    count = 0
    while True:
        ok, frame = source.read()
        if not ok and repeats > 1:
            repeats -= 1
            source.release()
            source = cv2.VideoCapture(str(clip))
            ok, frame = source.read()
        if not ok:
            break
        scale = min(WIDTH / frame.shape[1], HEIGHT / frame.shape[0])
        resized = cv2.resize(
            frame,
            (round(frame.shape[1] * scale), round(frame.shape[0] * scale)),
            interpolation=cv2.INTER_AREA,
        )
        canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        top, left = (HEIGHT - resized.shape[0]) // 2, (WIDTH - resized.shape[1]) // 2
        canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
        writer.write(canvas)
        count += 1
    source.release()
    writer.release()
    return fps, count


def read_frames(video: Path, stride: int) -> list[np.ndarray]:
    """Every stride-th frame as RGB: the frames a capture at fps/stride samples from the file."""
    source = cv2.VideoCapture(str(video))
    frames, index = [], 0
    while True:
        ok, frame = source.read()
        if not ok:
            break
        if index % stride == 0:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        index += 1
    source.release()
    return frames


def run_peer(frames: list[np.ndarray]) -> dict[str, float]:
    """face_recognition in this process: HOG locations (its default, one upsample), then every encoding."""
    import face_recognition

    face_recognition.face_encodings(frames[0], face_recognition.face_locations(frames[0]))  # warm-up
    faces = 0
    started = time.perf_counter()
    for frame in frames:
        locations = face_recognition.face_locations(frame)
        faces += len(face_recognition.face_encodings(frame, locations))
    seconds = time.perf_counter() - started
    return {
        "fps": round(len(frames) / seconds, 3),
        "seconds": round(seconds, 1),
        "faces_per_frame": round(faces / len(frames), 3),
    }


class Pipeline:
    """The running system and the measurements taken on it."""

    def __init__(self, children: Children, video: Path, folder: Path, sampler: Sampler) -> None:
        self.children, self.video, self.folder, self.sampler = children, video, folder, sampler
        self.metric_ports: list[int] = []
        self.redis_url = ""
        self.events: FrameEvents | None = None

    def start_stack(self, data: Path) -> float:
        started = time.monotonic()
        port = free_loopback_port()
        self.children.start("up", ["up", "--port", str(port), "--no-build-models"])
        url = f"http://127.0.0.1:{port}"
        record = self._wait_ready(url)
        self.redis_url = record.redis_url
        self.sampler.watched.update({"gallery": record.children["gallery"], **record.embedded_pids})
        self.children.environment.update(
            {"AMYPLANT_REDIS_URL": record.redis_url, "AMYPLANT_DATABASE_URL": record.database_url}
        )
        self.events = FrameEvents(redis.Redis.from_url(self.redis_url))
        self.events.start()
        self.start_worker(1, threads=worker_threads(1), wait=False)
        self._enroll(url, data)
        self.wait_workers(1)
        return time.monotonic() - started

    def _wait_ready(self, url: str) -> StackRecord:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.children.running["up"].poll() is not None:
                raise RuntimeError("amyplant up exited:\n" + self.children.log("up")[-3000:])
            try:
                parts = httpx.get(f"{url}/health", timeout=10).json()["parts"]
                record = StackRecord.read(Path(self.children.environment["AMYPLANT_STATE_DIR"]))
                if record and all(p["ok"] for name, p in parts.items() if name != "workers"):
                    return record
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(1)
        raise RuntimeError("the gallery never became healthy")

    def _enroll(self, url: str, data: Path) -> None:
        people = {p.stem: [p] for p in (data / "video").glob("*.png")}
        people.update({d.name: sorted(d.iterdir()) for d in sorted((data / "enroll").iterdir())})
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=300) as api:
            for name, files in people.items():
                person = api.post("/api/v1/people", json={"name": name})
                person.raise_for_status()
                upload = [("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files]
                api.post(f"/api/v1/people/{person.json()['id']}/faces", files=upload).raise_for_status()

    def start_worker(self, index: int, *, threads: int, wait: bool = True) -> None:
        port = free_loopback_port()
        self.metric_ports.append(port)
        name = f"worker-{index}"
        extra = {"AMYPLANT_WORKER_METRICS_PORT": str(port), "AMYPLANT_WORKER_THREADS": str(threads)}
        arguments = ["worker", "--name", f"bench-{index}@%h"]
        self.sampler.watched[name] = self.children.start(name, arguments, extra)
        if wait:
            self.wait_workers(index)

    def restart_workers(self, count: int) -> None:
        """`count` workers, each with its share of the cores, as `amyplant up --workers count` runs them:
        the running ones are stopped first (a worker's thread pools are sized once, at its start)."""
        for name in [n for n in self.children.running if n.startswith("worker-")]:
            self.children.stop(name)
        self.metric_ports.clear()
        for index in range(1, count + 1):
            self.start_worker(index, threads=worker_threads(count), wait=False)
        self.wait_workers(count)

    def wait_workers(self, count: int, timeout_s: float = 300) -> None:
        """Workers answer Celery pings only after loading and running their models once."""
        app = create_celery_app(redis_url=self.redis_url)
        deadline = time.monotonic() + timeout_s
        while len(app.control.ping(timeout=1.0) or []) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {count} workers answered")
            time.sleep(1)

    def capture(
        self,
        phase: str,
        *,
        cameras: int = 1,
        detect_fps: float,
        realtime: bool,
        loop: bool,
        max_pending: int = 10,
        seconds: float | None = None,
        sources: list[Path] | None = None,
    ) -> dict[str, Any]:
        """One capture process with `cameras` cameras on the video (or on `sources`, one each); stopped
        after `seconds` or at the end."""
        videos = sources or [self.video] * cameras
        listing = self.folder / f"{phase}.yaml"
        listing.write_text(
            "cameras:\n"
            + "".join(
                f"  - id: {phase}-{index}\n    source: {video}\n    detect_fps: {detect_fps}\n"
                f"    realtime: {str(realtime).lower()}\n    loop: {str(loop).lower()}\n"
                for index, video in enumerate(videos, start=1)
            )
        )
        name = f"capture-{phase}"
        self.sampler.watched["capture"] = self.children.start(
            name,
            ["capture", "--cameras-file", str(listing)],
            {"AMYPLANT_CAPTURE_MAX_PENDING_FRAMES": str(max_pending), "AMYPLANT_FRAME_TTL_S": "900"},
        )
        if seconds is not None:
            time.sleep(seconds)
        else:
            self.children.running[name].wait(timeout=600)  # it ends with the file
        ended = time.monotonic()
        code = self.children.stop(name)
        del self.sampler.watched["capture"]
        found = CAPTURE_COUNTS.findall(self.children.log(name))
        if code != 0 or len(found) != cameras:
            raise RuntimeError(f"capture {phase} failed ({code}):\n{self.children.log(name)}")
        totals = [sum(int(line[column]) for line in found) for column in range(4)]
        return {
            "cameras": cameras,
            "captured": totals[0],
            "queued": totals[1],
            "dropped": totals[2],
            "still": totals[3],
            "ended": ended,
        }

    def wait_drained(self, phase: str, timeout_s: float) -> None:
        """Until every stored frame of the phase was handled, dropped or expired."""
        assert self.events is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = {**self.events.of(phase, "del"), **self.events.of(phase, "dropped")}
            done.update(self.events.of(phase, "expired"))
            if set(self.events.of(phase, "set")) <= set(done):
                return
            time.sleep(0.5)
        raise RuntimeError(f"frames of {phase} still pending after {timeout_s} s")

    def handled(self, phase: str, cameras: int) -> float:
        totals = scrape(self.metric_ports)
        return sum(
            metric(totals, "amyplant_frames_processed_total", camera=f"{phase}-{index}")
            for index in range(1, cameras + 1)
        )

    def backlog_fps(self, phase: str, detect_fps: float) -> dict[str, float]:
        """Handled frames/s once the capture has queued the whole backlog and a tenth of it is done."""
        assert self.events is not None
        counts = self.capture(phase, detect_fps=detect_fps, realtime=False, loop=False, max_pending=100_000)
        self.wait_drained(phase, timeout_s=900)
        done = sorted(self.events.of(phase, "del").values())
        first = next(i for i, t in enumerate(done) if i >= len(done) // 10 and t >= counts["ended"])
        fps = (len(done) - 1 - first) / (done[-1] - done[first])
        return {
            "fps": round(fps, 3),
            "frames": counts["queued"],
            "dropped": counts["dropped"],
            "window_frames": len(done) - 1 - first,
            "drain_s": round(done[-1] - min(self.events.of(phase, "set").values()), 1),
            "capture_s": round(counts["ended"] - min(self.events.of(phase, "set").values()), 1),
        }

    def latency(self, phase: str, detect_fps: float, seconds: float) -> dict[str, Any]:
        assert self.events is not None
        counts = self.capture(phase, detect_fps=detect_fps, realtime=True, loop=True, seconds=seconds)
        self.wait_drained(phase, timeout_s=60)
        stored, deleted = self.events.of(phase, "set"), self.events.of(phase, "del")
        values = np.array([deleted[k] - t for k, t in stored.items() if k in deleted]) * 1000
        totals = scrape(self.metric_ports)
        count = metric(totals, "amyplant_capture_to_result_seconds_count", camera=f"{phase}-1")
        within = metric(totals, "amyplant_capture_to_result_seconds_bucket", camera=f"{phase}-1", le="0.5")
        del counts["ended"]
        return {
            "detect_fps": detect_fps,
            "seconds": seconds,
            **counts,
            "frames": len(values),
            "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p95_ms": round(float(np.percentile(values, 95)), 1),
            "max_ms": round(float(values.max()), 1),
            "histogram_share_le_500ms": round(within / count, 4) if count else None,
        }

    def doorway(self, phase: str, cameras: int, seconds: float, workers_fps: float) -> dict[str, Any]:
        """`cameras` doorway recordings (bench/motion.py: a still scene, about 10% of the time the clip),
        each shifted in time, at 5 frames/s each, played in real time with motion gating as configured
        by default; capture-to-event latency of every frame sent, and what was dropped."""
        assert self.events is not None
        clip = clip_frames(shared_data() / "video" / "short_hamilton_clip.mp4")
        sources = []
        for index in range(cameras):
            path = self.folder / f"doorway-{index + 1}.avi"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), DOORWAY_FPS, (WIDTH, HEIGHT))
            recording = doorway(clip, minutes=2.0, active=0.1, seed=index, offset=index / cameras)
            for frame, _active in recording:
                writer.write(frame)
            writer.release()
            sources.append(path)
        handled_before = self.handled(phase, cameras)
        counts = self.capture(
            phase,
            cameras=cameras,
            detect_fps=DOORWAY_FPS,
            realtime=True,
            loop=True,
            seconds=seconds,
            sources=sources,
        )
        self.wait_drained(phase, timeout_s=120)
        stored, deleted = self.events.of(phase, "set"), self.events.of(phase, "del")
        values = np.array([deleted[k] - t for k, t in stored.items() if k in deleted]) * 1000
        handled = self.handled(phase, cameras) - handled_before
        del counts["ended"]
        offered = cameras * DOORWAY_FPS
        return {
            "detect_fps_per_camera": DOORWAY_FPS,
            "seconds": seconds,
            **counts,
            "sent_share": round(counts["queued"] / max(counts["queued"] + counts["still"], 1), 4),
            "handled": int(handled),
            "frames": len(values),
            "p50_ms": round(float(np.percentile(values, 50)), 1) if len(values) else None,
            "p95_ms": round(float(np.percentile(values, 95)), 1) if len(values) else None,
            "max_ms": round(float(values.max()), 1) if len(values) else None,
            "offered_fps": offered,
            "backlog_fps_2_workers": workers_fps,
        }

    def overload(self, phase: str, rate: float, clip_fps: float, seconds: float) -> dict[str, Any]:
        """`rate` frames/s in all, over as many cameras as the clip's own frame rate requires."""
        assert self.events is not None
        cameras = math.ceil(rate / clip_fps)
        self.sampler.sample()
        start = time.monotonic()
        client = redis.Redis.from_url(self.redis_url)
        memory_before = int(client.info("memory")["used_memory"])
        counts = self.capture(
            phase,
            cameras=cameras,
            detect_fps=round(rate / cameras, 2),
            realtime=True,
            loop=True,
            seconds=seconds,
        )
        self.sampler.sample()
        end = time.monotonic()
        memory_after, queue_length = int(client.info("memory")["used_memory"]), int(client.llen("frames"))
        client.close()
        self.wait_drained(phase, timeout_s=120)
        handled = self.handled(phase, cameras)
        del counts["ended"]
        # The capture's dropped count is checked against Redis: frames it deleted untaken, and any frame
        # both dropped and handled (counted by the capture though a worker had it; must be 0).
        released, dropped = self.events.of(phase, "del"), self.events.of(phase, "dropped")
        return {
            "detect_fps_total": rate,
            "seconds": seconds,
            **counts,
            "dropped_untaken_in_redis": len(dropped),
            "dropped_yet_handled": len(set(dropped) & set(released)),
            "handled": int(handled),
            "never_handled": counts["queued"] - int(handled),
            "handled_fps": round(handled / (end - start), 3),
            "frames_queue_at_end": queue_length,
            "redis_used_memory_mb": [round(memory_before / 2**20, 1), round(memory_after / 2**20, 1)],
            "processes": self.sampler.trend(start, end),
        }


def memory_flat(processes: dict[str, dict[str, float]]) -> bool:
    """Flat: no process's anonymous memory grew, by a fitted line, more than 10 MB or 2% over the overload."""
    return all(p["anon_growth_mb"] <= max(10.0, 0.02 * p["anon_first_mb"]) for p in processes.values())


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run every phase on the same frames; the peer runs before the services start and after the backlogs."""
    data = shared_data()
    video = folder / "frames_640x480.avi"
    fps, frame_count = prepare_video(data / "video" / "short_hamilton_clip.mp4", video, args.repeats)
    frames = read_frames(video, args.stride)
    run: dict[str, Any] = {
        "load_average": {"peer_1": load()},
        "cpu_count": os.cpu_count(),
        "frames": {
            "size": [WIDTH, HEIGHT],
            "clip_frames": frame_count,
            "repeats": args.repeats,
            "clip_fps": round(fps, 3),
            "stride": args.stride,
            "backlog_frames": len(frames),
        },
    }
    run["peer_runs"] = [run_peer(frames)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AMYPLANT_")}
    environment.update(
        {
            "AMYPLANT_STATE_DIR": str(folder / "state"),
            "AMYPLANT_UP_WORKERS": "0",
            "AMYPLANT_MODEL_REPOSITORY": str(args.models.resolve()),
            "AMYPLANT_GALLERY_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        }
    )
    (folder / "logs").mkdir()
    children = Children(folder / "logs", environment)
    sampler = Sampler(args.rss_interval)
    pipeline = Pipeline(children, video, folder, sampler)
    loads = run["load_average"]
    try:
        sampler.start()
        run["stack_startup_s"] = round(pipeline.start_stack(data), 1)
        loads["1_worker"] = load()
        run["backlog_1_worker"] = pipeline.backlog_fps("backlog1", fps / args.stride)
        pipeline.restart_workers(2)
        loads["2_workers"] = load()
        run["backlog_2_workers"] = two = pipeline.backlog_fps("backlog2", fps / args.stride)
        loads["peer_2"] = load()
        run["peer_runs"].append(run_peer(frames))  # the workers are idle now
        latency_fps = args.latency_fps or round(min(5.0, two["fps"] / 2), 2)
        loads["latency"] = load()
        run["latency"] = pipeline.latency("latency", latency_fps, args.latency_seconds)
        loads["doorway"] = load()
        run["doorway"] = pipeline.doorway("doorway", args.doorway_cameras, args.doorway_seconds, two["fps"])
        loads["overload"] = load()
        run["overload"] = pipeline.overload("overload", round(2 * two["fps"], 2), fps, args.overload_seconds)
        run["totals"] = scrape(pipeline.metric_ports)
        run["peak_rss_mb"] = {
            kind: sampler.peak(kind) for kind in ("worker", "capture", "gallery", "redis", "postgres")
        }
    finally:
        sampler.stopping.set()
        if pipeline.events is not None:
            pipeline.events.close()
        watched = set(sampler.watched.values()) | {p.pid for p in children.running.values()}
        children.stop_all()
        time.sleep(1)
        if args.logs is not None:
            shutil.copytree(folder / "logs", args.logs, dirs_exist_ok=True)
        run["orphans"] = sorted(pid for pid in watched if alive(pid))
    return run


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    """The JSON line: the issue's keys and targets first, then every phase's details."""
    totals = run.pop("totals")
    one, two, latency, overload, door = (
        run[k] for k in ("backlog_1_worker", "backlog_2_workers", "latency", "overload", "doorway")
    )
    peer_fps = float(np.mean([peer["fps"] for peer in run["peer_runs"]]))
    flat = memory_flat(overload["processes"])
    labels = {key: sorted({dict(k[1]).get(key, "") for k in totals} - {""}) for key in ("stage", "outcome")}
    scaling = two["fps"] / one["fps"]
    overload_ratio = overload["handled_fps"] / two["fps"]
    # The doorway phase tests one camera count; it counts as carried when every frame sent was handled
    # (none dropped) with capture-to-event p95 <= 250 ms.
    door_ok = door["dropped"] == 0 and door["p95_ms"] is not None and door["p95_ms"] <= 250
    cores = run["cpu_count"] or 1
    # Faces per frame on the clip alone (the 2-worker backlog), as the peer's figure is.
    clip_frames_done = metric(totals, "amyplant_frames_processed_total", camera="backlog2-1")
    faces_ours = round(metric(totals, "amyplant_faces_total", camera="backlog2-1") / clip_frames_done, 3)
    return {
        "fps_1_worker": one["fps"],
        "fps_2_workers": two["fps"],
        "peer_fps": round(peer_fps, 3),
        "ratio_vs_peer": round(two["fps"] / peer_fps, 2),
        "scaling_1_to_2": round(scaling, 3),
        "overload_ratio": round(overload_ratio, 3),
        "latency_p50_ms": latency["p50_ms"],
        "latency_p95_ms": latency["p95_ms"],
        "cameras_per_core_doorway": round(door["cameras"] / cores, 2) if door_ok else None,
        "doorway_p95_ms": door["p95_ms"],
        "faces_found": faces_ours,
        "peer_faces_found": run["peer_runs"][0]["faces_per_frame"],
        "dropped": overload["dropped"],
        "peak_rss_mb": run.pop("peak_rss_mb"),
        "memory_flat": flat,
        "targets": {
            "ratio_vs_peer_ge_6": two["fps"] >= 6 * peer_fps,
            "scaling_1_to_2_ge_1_7": scaling >= 1.7,
            "doorway_8_cameras_on_2_cores": door_ok and door["cameras"] >= 4 * cores,
            "overload_ge_0_9": overload_ratio >= 0.9,
            "latency_p95_le_500ms": latency["p95_ms"] <= 500,
            "memory_flat_over_overload": flat,
        },
        **run,
        "faces_per_frame_ours": faces_ours,
        "stage_mean_ms": {
            stage: round(
                1000
                * metric(totals, "amyplant_stage_seconds_sum", stage=stage)
                / metric(totals, "amyplant_stage_seconds_count", stage=stage),
                2,
            )
            for stage in labels["stage"]
        },
        "outcomes": {
            o: int(metric(totals, "amyplant_frames_processed_total", outcome=o)) for o in labels["outcome"]
        },
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    configured = os.environ.get("AMYPLANT_MODEL_REPOSITORY") or os.environ.get("AMYPLANT_TEST_MODEL_REPO")
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(configured) if configured else REPO / ".cache" / "test-models",
        help="built model repository (default: $AMYPLANT_MODEL_REPOSITORY, "
        "$AMYPLANT_TEST_MODEL_REPO, else .cache/test-models)",
    )
    parser.add_argument("--stride", type=int, default=1, help="backlog: every Nth frame of the clip")
    parser.add_argument(
        "--repeats",
        type=int,
        default=2,
        help="the clip this many times in a row in the frames file, so that a backlog lasts long enough "
        "for a steady rate (one pass is about 4 s of handling for 2 workers; two runs of it gave 46.5 and "
        "50.4 frames/s)",
    )
    parser.add_argument("--latency-seconds", type=float, default=45)
    parser.add_argument("--latency-fps", type=float, help="default: half the 2-worker rate, at most 5")
    parser.add_argument("--overload-seconds", type=float, default=300, help="the issue asks for 600")
    parser.add_argument("--doorway-cameras", type=int, default=8, help="doorway recordings at 5 fps each")
    parser.add_argument("--doorway-seconds", type=float, default=120)
    parser.add_argument("--rss-interval", type=float, default=3.0, help="seconds between RSS samples")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--logs", type=Path, help="copy the processes' logs here before the temp dir goes")
    args = parser.parse_args()
    if not (args.models / "models.config").exists():
        parser.error(f"{args.models} holds no built models (amyplant models build)")
    with tempfile.TemporaryDirectory(prefix="amyplant-bench-") as folder:
        result = summarise(measure(args, Path(folder)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
