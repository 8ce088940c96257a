"""Motion gating on a "doorway" recording built from shared data: what share of frames reaches the workers.

Usage: python bench/motion.py [--minutes 10] [--active 0.1] [--json FILE]

The recording, at 5 frames/s (the default detect_fps): the shared clip's first frame, centred on a black
640x480 frame, held still with sensor noise (Gaussian, sigma 3 grey levels) and a lighting change every
minute (brightness +-25 for 20 s), interrupted by the clip itself (its people and stage movement) so that
about --active of the time is active. Every frame goes through one camera's MotionGate as the capture
runs it. Figures: frames, active frames, share of active frames sent (should be all), share of still
frames sent (heartbeats and the frames kept after motion), share of all frames sent, and the gate's cost
per frame (median and 95th percentile, ms, this process on one core).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from amyplant_capture.motion import MotionConfig, MotionGate, Verdict

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS = 640, 480, 5.0
SENT = (Verdict.MOTION, Verdict.HEARTBEAT)


def shared_data() -> Path:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    return Path(configured) if configured else ROOT / ".." / "shared" / "data"


def clip_frames(clip: Path) -> list[np.ndarray]:
    """The clip at 5 frames/s, each centred on black 640x480 (as bench/pipeline.py pads it)."""
    capture = cv2.VideoCapture(str(clip))
    step = max(1, round((capture.get(cv2.CAP_PROP_FPS) or 30.0) / FPS))
    frames, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            scale = min(WIDTH / frame.shape[1], HEIGHT / frame.shape[0])
            resized = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)))
            top, left = (HEIGHT - resized.shape[0]) // 2, (WIDTH - resized.shape[1]) // 2
            canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
            frames.append(canvas)
        index += 1
    capture.release()
    return frames


def doorway(
    clip: list[np.ndarray], *, minutes: float, active: float, seed: int = 0, offset: float = 0.0
) -> Iterator[tuple[np.ndarray, bool]]:
    """(frame, active?) for the whole recording; `offset` (0-1) shifts when the clip plays, so that
    several cameras' recordings are not active at the same moments."""
    rng = np.random.default_rng(seed)
    still = clip[0].astype(np.float32)
    total = round(minutes * 60 * FPS)
    # Clip plays start at evenly spaced frames so that they fill `active` of the time.
    plays = max(1, round(total * active / len(clip)))
    starts = {round(((i + 0.5 + offset) % plays) * total / plays) for i in range(plays)}
    index = 0
    while index < total:
        if index in starts:
            for frame in clip:
                yield frame, True
            index += len(clip)
            continue
        seconds = index / FPS
        lighting = 25.0 * (1 if int(seconds // 60) % 2 else -1) if seconds % 60 >= 40 else 0.0
        noisy = still + lighting + rng.normal(0.0, 3.0, still.shape)
        yield np.clip(noisy, 0, 255).astype(np.uint8), False
        index += 1


def measure(minutes: float, active: float) -> dict[str, object]:
    clip = clip_frames(shared_data() / "video" / "short_hamilton_clip.mp4")
    gate = MotionGate(MotionConfig())
    counts = {"active": 0, "active_sent": 0, "still": 0, "still_sent": 0}
    costs = []
    for index, (frame, is_active) in enumerate(doorway(clip, minutes=minutes, active=active)):
        started = time.perf_counter()
        verdict = gate.check(frame, at=index / FPS)
        costs.append((time.perf_counter() - started) * 1000)
        kind = "active" if is_active else "still"
        counts[kind] += 1
        counts[f"{kind}_sent"] += verdict in SENT
    frames = counts["active"] + counts["still"]
    return {
        "frames": frames,
        "active_frames": counts["active"],
        "active_sent_share": round(counts["active_sent"] / max(counts["active"], 1), 4),
        "still_sent_share": round(counts["still_sent"] / max(counts["still"], 1), 4),
        "sent_share": round((counts["active_sent"] + counts["still_sent"]) / frames, 4),
        "gate_ms_median": round(float(np.median(costs)), 3),
        "gate_ms_p95": round(float(np.percentile(costs, 95)), 3),
        "frame_size": [WIDTH, HEIGHT],
        "fps": FPS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--active", type=float, default=0.1, help="share of the time the clip plays")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (shared_data() / "video").is_dir():
        print("../shared/data is absent: nothing to measure", file=sys.stderr)
        return 1
    figures = measure(args.minutes, args.active)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
