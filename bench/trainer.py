"""Trainer speed: albumentations images/s and training step time per backbone, side by side; one JSON line.

Usage: python bench/trainer.py [--size 192] [--batch 16] [--steps 5] [--warmup 2] [--frames 40].
Augmentation runs `augment.py`'s pipeline (served geometry and crops; then close-ups, timed apart, and
the rate at the default close-up share derived from the two) on real frames of
../shared/data/video/short_hamilton_clip.mp4 (generated images when the data is absent), with their
faces boxed by a fixed centred rectangle: the pipeline's cost does not depend on where the boxes are.
Training steps run the trainer's own custom train_step (combined loss, Adam) on batches of those
augmented images; each figure is a median over the timed steps after warm-up. Backbones start from
random weights unless Keras' ImageNet files are cached.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np

from amyplant_queue import training_options as defaults

ROOT = Path(__file__).resolve().parents[1]
CLIP = Path("video") / "short_hamilton_clip.mp4"


def shared_data() -> Path | None:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(configured) if configured else ROOT / ".." / "shared" / "data"
    return path if path.is_dir() else None


def clip_frames(count: int) -> tuple[list[np.ndarray], str]:
    """`count` RGB frames spread over the clip, or generated frames of the clip's size without it."""
    data = shared_data()
    video = data / CLIP if data is not None else None
    frames: list[np.ndarray] = []
    if video is not None and video.is_file():
        capture = cv2.VideoCapture(str(video))
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or count
        wanted = set(np.linspace(0, total - 1, count).astype(int).tolist())
        index = 0
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
        capture.release()
        return frames, f"{len(frames)} frames of {CLIP}"
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(count)], "generated"


def annotations_for(frames: list[np.ndarray]) -> list[Any]:
    from amyplant_trainer.labelme import Annotation, FaceBox

    result = []
    for frame in frames:
        height, width = frame.shape[:2]
        face = FaceBox(width * 0.4, height * 0.3, width * 0.55, height * 0.6)
        result.append(Annotation(image_path=Path("frame.jpg"), width=width, height=height, faces=[face]))
    return result


def augmentation_rate(frames: list[np.ndarray], size: int, seconds: float) -> tuple[float, list[Any]]:
    """Augmented images per second (one process, one thread of albumentations) over about `seconds`."""
    from amyplant_trainer.augment import augment_once, make_transform

    transform = make_transform(size)
    transform.set_random_seed(0)
    rng = np.random.default_rng(0)
    annotations = annotations_for(frames)
    for frame, annotation in zip(frames[:5], annotations, strict=False):  # warm-up
        augment_once(frame, annotation, transform, rng)
    samples = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for frame, annotation in zip(frames, annotations, strict=True):
            samples.append(augment_once(frame, annotation, transform, rng))
    elapsed = time.perf_counter() - started
    return len(samples) / elapsed, samples


def close_up_rate(frames: list[np.ndarray], size: int, seconds: float) -> float:
    """Close-up samples per second: each builds its own crop-and-letterbox transform around its face
    window (augment.close_up_transform, as expand() does), which the samples above do not."""
    from amyplant_trainer.augment import augment_once, close_up_transform

    rng = np.random.default_rng(0)
    annotations = annotations_for(frames)
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for frame, annotation in zip(frames, annotations, strict=True):
            height, width = frame.shape[:2]
            chosen = close_up_transform(annotation.faces[0], height, width, size, rng)
            augment_once(frame, annotation, chosen, rng)
            count += 1
    return count / (time.perf_counter() - started)


class StepTimer(keras.callbacks.Callback):  # type: ignore[misc]
    """Wall time of every training batch, taken from Keras' batch callbacks around the train_step."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.started = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def step_times(
    backbone: defaults.Backbone, samples: list[Any], size: int, batch: int, steps: int, warmup: int
) -> list[float]:
    """Seconds per training step of the trainer's train_step on real augmented batches."""
    import tensorflow as tf

    from amyplant_trainer.fitting import DetectorTrainer, Hyperparameters
    from amyplant_trainer.network import build_network
    from amyplant_trainer.targets import encode_targets

    keras.utils.set_random_seed(0)
    hyper = Hyperparameters(size=size, backbone=backbone, batch_size=batch)
    network = build_network(size=size, backbone=backbone, stride=hyper.stride)
    trainer = DetectorTrainer(network, hyper)
    trainer.compile(optimizer=keras.optimizers.Adam(hyper.learning_rate))
    grid = size // hyper.stride
    pool = samples[: batch * 4]  # a few distinct batches; the step's cost does not depend on their content
    images = np.stack([s.image for s in pool]).astype(np.float32)
    targets = np.stack([encode_targets(s, grid) for s in pool])
    dataset = tf.data.Dataset.from_tensor_slices((images, targets)).batch(batch).repeat()
    timer = StepTimer()
    trainer.fit(
        dataset, epochs=1, steps_per_epoch=warmup + steps, callbacks=[timer], verbose=0, shuffle=False
    )
    times = timer.seconds[warmup:]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--size", type=int, default=defaults.DEFAULT_SIZE, help="network input (the trainer's default)"
    )
    parser.add_argument("--batch", type=int, default=16, help="batch size (the trainer's default)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per backbone")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps (tracing, allocation)")
    parser.add_argument("--frames", type=int, default=40, help="clip frames to augment")
    parser.add_argument("--augment-seconds", type=float, default=10.0)
    args = parser.parse_args()
    logging.getLogger("amyplant_trainer.network").setLevel(logging.ERROR)

    import tensorflow as tf

    from amyplant_trainer.network import pretrained_weights

    frames, source = clip_frames(args.frames)
    rate, samples = augmentation_rate(frames, args.size, args.augment_seconds)
    close_ups = close_up_rate(frames, args.size, args.augment_seconds)
    share = defaults.DEFAULT_CLOSE_UP_SHARE
    figures: dict[str, Any] = {
        "augment_images_per_s": round(rate, 1),
        "close_up_images_per_s": round(close_ups, 1),
        # What expand() yields at the default close-up share, from the two measured rates.
        "augment_images_per_s_at_default_close_up_share": round(
            1 / ((1 - share) / rate + share / close_ups), 1
        ),
        "default_close_up_share": share,
    }
    for backbone in defaults.BACKBONES:
        seconds = step_times(backbone, samples, args.size, args.batch, args.steps, args.warmup)
        median = statistics.median(seconds) * 1000
        figures[f"{backbone}_ms_per_batch"] = round(median, 1)
        figures[f"{backbone}_ms_per_image"] = round(median / args.batch, 2)
        figures[f"{backbone}_pretrained"] = pretrained_weights(backbone)  # type: ignore[arg-type]
    print(
        json.dumps(
            {
                "bench": "trainer",
                "size": args.size,
                "batch": args.batch,
                "timed_steps": args.steps,
                "warmup_steps": args.warmup,
                "inputs": source,
                **figures,
                "gpus": len(tf.config.list_physical_devices("GPU")),
                "cpus": os.cpu_count(),
                "load_average": [round(v, 2) for v in os.getloadavg()],  # the machine may be shared
                "machine": platform.machine(),
                "tensorflow": tf.__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
