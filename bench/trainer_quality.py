"""Trainer quality: a detector trained on one camera's frames vs the served one, on a dlib-boxed test split.

Usage: python bench/trainer_quality.py [--backbone blazeface] [--size 192] [--epochs 10] [--workdir DIR]

Every frame of ../shared/data/video/short_hamilton_clip.mp4 (one camera) is cut into time blocks, and whole
blocks are dealt to train, validation and test (seeded, `split.py`, spread along the timeline unless
--no-spread); train and validation frames closer than `--gap` frames to a test frame are dropped, so no
near-identical neighbour of a test frame is learnt from. The TEST frames are boxed by dlib's CNN (MMOD)
detector from face-recognition-models, never by a detector being compared. Train and validation frames
are the served detector's pre-annotation corrected to that annotator's boxes (--train-boxes corrected, the
default: what the person who checks the pre-annotation in LabelMe does, so train and test follow one box
convention; trainer_quality_labels.py) or left uncorrected (--train-boxes served). A detector is trained
(BlazeFace backbone by default; early stopping on the validation loss, the epoch with the best validation
AP@0.5 kept; nothing looks at the test split), exported with the
face_detector signature, and both detectors are scored on the test split with the gate's own
`score_detector` (AP@0.5, median ms per frame, each detector timed twice, interleaved, lower median
kept). One JSON line is printed and written to bench/results/trainer_quality.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from amyplant_queue import training_options as defaults
from trainer_quality_labels import draw_boxes, write_corrected, write_reference

ROOT = Path(__file__).resolve().parents[1]
CLIP = Path("video") / "short_hamilton_clip.mp4"
RESULT = ROOT / "bench" / "results" / "trainer_quality.json"
SPLITS = ("train", "validation", "test")


def shared_data() -> Path:
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(configured) if configured else ROOT / ".." / "shared" / "data"
    if not (path / CLIP).is_file():
        raise SystemExit(f"{path / CLIP} is missing: this benchmark needs the shared development data")
    return path


def read_bgr(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read {path}")
    return image


def read_frames(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def split_indices(count: int, block: int, gap: int, seed: int, spread: bool) -> dict[str, list[int]]:
    """Time blocks dealt to the splits; train and validation frames within `gap` of a test frame dropped."""
    from amyplant_trainer.split import SplitPlan, split_by_blocks

    plan = SplitPlan(validation=0.15, test=0.2, block=block, seed=seed, spread=spread)
    dealt = split_by_blocks(list(range(count)), plan)
    test = set(dealt["test"])

    def near_test(index: int) -> bool:
        return any(other in test for other in range(index - gap, index + gap + 1))

    return {
        name: [i for i in members if name == "test" or not near_test(i)] for name, members in dealt.items()
    }


def write_frames(frames: list[np.ndarray], splits: dict[str, list[int]], root: Path) -> dict[str, Path]:
    """One folder per split; frames (and their annotations) left from a run with other settings go."""
    folders = {}
    for name, members in splits.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {f"clip_{index:04d}" for index in members}
        for stale in folder.glob("clip_*"):
            if stale.stem not in wanted:
                stale.unlink()
        for index in members:
            path = folder / f"clip_{index:04d}.jpg"
            if not path.exists():
                cv2.imwrite(str(path), frames[index], [cv2.IMWRITE_JPEG_QUALITY, 95])
        folders[name] = folder
    return folders


def served_repository(models: Path, root: Path) -> Path:
    """A private repository whose face_detector version 1 is the built one (linked, never modified)."""
    repo = root / "repo"
    (repo / "face_detector").mkdir(parents=True, exist_ok=True)
    link = repo / "face_detector" / "1"
    if not link.exists():
        os.symlink((models / "face_detector" / "1").resolve(), link)
    return repo


def train_candidate(
    train: list[Any], validation: list[Any], hyper: Any, workdir: Path
) -> tuple[Any, dict[str, list[float]], dict[str, int]]:
    """The trainer's own steps (expand, tf.data, network, fit) on the splits chosen here, not by job.py."""
    from amyplant_trainer.augment import expand_splits
    from amyplant_trainer.fitting import fit, make_deterministic
    from amyplant_trainer.network import build_network
    from amyplant_trainer.pipeline_data import to_dataset

    make_deterministic(hyper.seed)
    grid = hyper.size // hyper.stride
    train_samples, validation_samples = expand_splits(
        train,
        validation,
        size=hyper.size,
        expansion=hyper.expansion,
        seed=hyper.seed,
        close_up_share=hyper.close_up_share,
    )
    batches = {"batch_size": hyper.batch_size, "grid": grid, "size": hyper.size, "seed": hyper.seed}
    network = build_network(size=hyper.size, backbone=hyper.backbone, stride=hyper.stride)
    history = fit(
        network,
        to_dataset(train_samples, shuffle=True, **batches),
        to_dataset(validation_samples, shuffle=False, **batches),
        hyper,
        checkpoint_dir=workdir / "checkpoints",
        validation_frames=validation,
        verbose=2,
    )
    return network, history, {"train": len(train_samples), "validation": len(validation_samples)}


def predictions(serve: Any, annotations: list[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    result = []
    for annotation in annotations:
        rgb = cv2.cvtColor(read_bgr(annotation.image_path), cv2.COLOR_BGR2RGB)
        outputs = serve({"image": rgb})
        result.append((np.asarray(outputs["boxes"]).reshape(-1, 4), np.asarray(outputs["scores"]).ravel()))
    return result


def truth_boxes(annotations: list[Any]) -> list[np.ndarray]:
    return [annotation.box_array() for annotation in annotations]


def diagnostics(served: Any, candidate: Any, test: list[Any], validation: list[Any]) -> dict[str, Any]:
    """Figures that explain the headline without changing it: looser IoU, and agreement with the teacher."""
    from amyplant_faces.detection_metrics import average_precision

    dlib_truth = truth_boxes(test)
    served_test, candidate_test = predictions(served, test), predictions(candidate, test)
    teacher = [boxes for boxes, _ in served_test]
    return {
        "test_ap_30": {
            "served": round(average_precision(served_test, dlib_truth, iou_threshold=0.3), 4),
            "trained": round(average_precision(candidate_test, dlib_truth, iou_threshold=0.3), 4),
        },
        "trained_test_ap_50_vs_served_boxes": round(
            average_precision(candidate_test, teacher, iou_threshold=0.5), 4
        ),
        "trained_validation_ap_50": round(
            average_precision(predictions(candidate, validation), truth_boxes(validation), iou_threshold=0.5),
            4,
        ),
    }


def compare(served: Any, candidate: Any, test: list[Any], passes: int = 2) -> dict[str, Any]:
    """score_detector on both, `passes` times interleaved (the machine is shared); the lowest median kept."""
    from amyplant_trainer.gate import score_detector

    for serve in (served, candidate):  # tracing and first-call allocation are not a frame's cost
        predictions(serve, test[:3])
    scored: dict[str, list[Any]] = {"served": [], "trained": []}
    for _ in range(passes):
        scored["served"].append(score_detector(served, test))
        scored["trained"].append(score_detector(candidate, test))
    return {
        name: {
            "ap_50": round(scores[0].ap_50, 4),
            "ap_50_to_75": round(scores[0].ap_50_to_75, 4),
            "ms_per_frame": round(min(s.ms_median for s in scores), 2),
            "ms_per_frame_passes": [round(s.ms_median, 2) for s in scores],
            "images": scores[0].images,
            "faces": scores[0].faces,
        }
        for name, scores in scored.items()
    }


def pass_ratios(scores: dict[str, Any]) -> dict[str, Any]:
    """Trained over served time of each interleaved pass, and their median (what the docs quote)."""
    ratios = [
        trained / served
        for trained, served in zip(
            scores["trained"]["ms_per_frame_passes"], scores["served"]["ms_per_frame_passes"], strict=True
        )
    ]
    return {
        "time_ratio": round(float(np.median(ratios)), 3),
        "time_ratio_passes": [round(r, 3) for r in ratios],
    }


def rescore(args: argparse.Namespace, repo: Path, candidate_dir: Path, test: list[Any]) -> int:
    """The timing passes again on a saved candidate, with nothing else running; one JSON line."""
    from amyplant_faces.models.inprocess import load_serving_function

    if not candidate_dir.is_dir():
        raise SystemExit(f"{candidate_dir}: no candidate; run without --rescore first")
    scores = compare(
        load_serving_function(repo / "face_detector" / "1"),
        load_serving_function(candidate_dir),
        test,
        passes=args.passes,
    )
    report = {
        "bench": "trainer_quality_rescore",
        "seed": args.seed,
        "passes": args.passes,
        **scores,
        **pass_ratios(scores),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpu": cpu_model(),
        "onednn_max_cpu_isa": onednn_cap(),
    }
    line = json.dumps(report)
    print(line)
    if not args.no_save:
        args.output.write_text(line + "\n")
    return 0


def cpu_model() -> str:
    """The CPU's name and whether it has AVX-512: the same training code takes other kernel paths (and
    ends in other weights) on another CPU, so a result is tied to the CPU it came from."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")]
    return f"{names[0] if names else 'unknown'}{' (AVX-512)' if 'avx512f' in info else ''}"


def onednn_cap() -> str:
    """The instruction set oneDNN was capped at (ONEDNN_MAX_CPU_ISA), or "native": capped at AVX2, a CPU
    with AVX-512 takes oneDNN's AVX2 kernels, as an AVX2-only CPU does, and trains to other weights."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA", "native")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    configured = os.environ.get("AMYPLANT_TEST_MODEL_REPO")
    parser.add_argument(
        "--models", type=Path, default=Path(configured) if configured else ROOT / ".cache" / "test-models"
    )
    parser.add_argument("--workdir", type=Path, help="frames, annotations, checkpoints (default: a temp dir)")
    parser.add_argument("--size", type=int, default=defaults.DEFAULT_SIZE)
    parser.add_argument("--backbone", choices=defaults.BACKBONES, default=defaults.DEFAULT_BACKBONE)
    parser.add_argument("--stride", type=int, choices=defaults.STRIDES, default=defaults.DEFAULT_STRIDE)
    parser.add_argument("--epochs", type=int, default=defaults.DEFAULT_EPOCHS)
    parser.add_argument("--expansion", type=int, default=defaults.DEFAULT_EXPANSION)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument(
        "--constant-learning-rate", action="store_true", help="no cosine decay over the planned epochs"
    )
    parser.add_argument(
        "--close-up-share",
        type=float,
        default=defaults.DEFAULT_CLOSE_UP_SHARE,
        help="share of augmented samples that are close-ups",
    )
    parser.add_argument("--seed", type=int, default=defaults.DEFAULT_SEED)
    parser.add_argument("--block", type=int, default=15, help="consecutive frames per time block")
    parser.add_argument("--gap", type=int, default=6, help="train/validation frames kept this far from test")
    parser.add_argument("--upsample", type=int, default=1, help="dlib CNN upsampling of the test frames")
    parser.add_argument(
        "--train-boxes",
        choices=("corrected", "served"),
        default="corrected",
        help="train and validation boxes: the served detector's pre-annotation corrected to the test "
        "split's annotator (as a person does in LabelMe; landmarks kept), or left uncorrected",
    )
    parser.add_argument(
        "--no-spread",
        action="store_true",
        help="deal the time blocks at random instead of along the timeline",
    )
    parser.add_argument("--draw", type=Path, help="write every 6th test frame with its dlib boxes here")
    parser.add_argument("--prepare-only", action="store_true", help="stop after the frames are annotated")
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="no training: score the candidate left in --workdir again (timing on a quiet machine)",
    )
    parser.add_argument("--passes", type=int, default=2, help="interleaved timing passes per detector")
    parser.add_argument("--output", type=Path, default=RESULT, help="where the JSON line is saved")
    parser.add_argument("--no-save", action="store_true", help="print only; leave the results file alone")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    import tensorflow as tf

    from amyplant_faces.models.inprocess import InProcessRuntime, load_serving_function
    from amyplant_trainer.datasets import load_dataset, pre_annotate
    from amyplant_trainer.export import to_built_model
    from amyplant_trainer.fitting import Hyperparameters
    from amyplant_trainer.network import pretrained_weights

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trainer-quality-"))
    frames = read_frames(shared_data() / CLIP)
    splits = split_indices(len(frames), args.block, args.gap, args.seed, spread=not args.no_spread)
    folders = write_frames(frames, splits, workdir / "frames")
    repo = served_repository(args.models, workdir)
    runtime = InProcessRuntime(repo)
    labelled: dict[str, Any] = {}
    for name in ("train", "validation"):
        if args.train_boxes == "corrected":
            labelled[name] = write_corrected(folders[name], runtime, args.upsample)
        else:
            pre_annotate(folders[name], runtime, overwrite=True)
    annotator = write_reference(folders["test"], args.upsample)
    data = {name: list(load_dataset(folder).annotations) for name, folder in folders.items()}
    drawn = draw_boxes(data["test"], args.draw, 6) if args.draw else []
    if args.prepare_only:
        faces = {name: sum(len(a.faces) for a in items) for name, items in data.items()}
        print(json.dumps({"workdir": str(workdir), "splits": splits, "faces": faces, "dlib": annotator}))
        return 0
    if args.rescore:
        return rescore(args, repo, workdir / "candidate", data["test"])

    hyper = Hyperparameters(
        size=args.size,
        stride=args.stride,
        backbone=args.backbone,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        cosine_decay=not args.constant_learning_rate,
        patience=args.patience,
        expansion=args.expansion,
        close_up_share=args.close_up_share,
        seed=args.seed,
    )
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # Keras' epoch lines; stdout carries the JSON line only
        network, history, samples = train_candidate(data["train"], data["validation"], hyper, workdir)
    training_s = time.perf_counter() - started
    built = to_built_model(network, size=args.size, manifest_extra={})
    candidate_dir = workdir / "candidate"
    shutil.rmtree(candidate_dir, ignore_errors=True)
    tf.saved_model.save(built.module, str(candidate_dir), signatures={"serving_default": built.module.serve})

    served = load_serving_function(repo / "face_detector" / "1")
    candidate = load_serving_function(candidate_dir)
    scores = compare(served, candidate, data["test"])
    target_met = (
        scores["trained"]["ap_50"] >= scores["served"]["ap_50"]
        and scores["trained"]["ms_per_frame"] <= scores["served"]["ms_per_frame"] / 2
    )
    report = {
        "bench": "trainer_quality",
        "target": "trained AP@0.5 >= served AP@0.5 at <= half the served ms per frame, on the test split",
        "target_met": target_met,
        **scores,
        "diagnostics": diagnostics(served, candidate, data["test"], data["validation"]),
        "data": {
            "clip": str(CLIP),
            "frames": len(frames),
            "split_frames": {name: len(items) for name, items in data.items()},
            "split_faces": {name: sum(len(a.faces) for a in items) for name, items in data.items()},
            "test_frame_indices": splits["test"],
            "block": args.block,
            "gap": args.gap,
            "train_validation_boxes": (
                {"source": "served pre-annotation corrected to the dlib CNN boxes", **labelled}
                if args.train_boxes == "corrected"
                else "served face_detector (pre_annotate, score >= 0.5)"
            ),
            "spread": not args.no_spread,
            "test_boxes": annotator,
            "augmented_samples": samples,
            "drawn": len(drawn),
        },
        "hyperparameters": asdict(hyper),
        "pretrained": pretrained_weights(args.backbone),
        "epochs_run": len(history.get("loss", [])),
        "history": {k: [round(v, 4) for v in values] for k, values in history.items()},
        "training_s": round(training_s, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": cpu_model(),
            "onednn_max_cpu_isa": onednn_cap(),
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
        },
    }
    line = json.dumps(report)
    print(line)
    if not args.no_save:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
