"""One training run: dataset -> split -> augmentation -> training -> export -> gate -> publication."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras

from amyplant_trainer.datasets import Dataset, load_dataset
from amyplant_trainer.fitting import Hyperparameters, fit, make_deterministic
from amyplant_trainer.split import SplitPlan, split_by_blocks

logger = logging.getLogger(__name__)
Progress = Callable[[str, dict[str, Any]], None]


class TrainingCancelled(RuntimeError):
    """The run was cancelled from the API; nothing was published."""


@dataclass
class TrainingOutcome:
    """What a run produced and decided."""

    history: dict[str, list[float]]
    split_sizes: dict[str, int]
    dataset_hash: str
    candidate_dir: Path
    gate: dict[str, Any] = field(default_factory=dict)
    published_version: int | None = None


class CancelCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Stops training between batches when `should_stop()` says so, and reports each epoch."""

    def __init__(self, should_stop: Callable[[], bool], progress: Progress) -> None:
        super().__init__()
        self.should_stop = should_stop
        self.progress = progress
        self.cancelled = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress("epoch", {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})


def run_training(
    dataset_dir: Path,
    workdir: Path,
    hyper: Hyperparameters,
    *,
    plan: SplitPlan | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    verbose: int = 1,
) -> tuple[keras.Model, TrainingOutcome, dict[str, list[Any]]]:
    """Train a candidate detector; returns the network, the outcome and the split annotations."""
    from amyplant_trainer.augment import expand_splits
    from amyplant_trainer.network import build_network
    from amyplant_trainer.pipeline_data import to_dataset

    report = progress or (lambda stage, data: logger.info("%s %s", stage, data))
    make_deterministic(hyper.seed)
    dataset: Dataset = load_dataset(dataset_dir)
    splits = split_by_blocks(list(dataset.annotations), plan or SplitPlan(seed=hyper.seed))
    report("split", {name: len(items) for name, items in splits.items()})
    grid = hyper.size // hyper.stride
    train_samples, validation_samples = expand_splits(
        splits["train"],
        splits["validation"],
        size=hyper.size,
        expansion=hyper.expansion,
        seed=hyper.seed,
        close_up_share=hyper.close_up_share,
    )
    report("augmented", {"train": len(train_samples), "validation": len(validation_samples)})
    train = to_dataset(
        train_samples, size=hyper.size, grid=grid, batch_size=hyper.batch_size, shuffle=True, seed=hyper.seed
    )
    validation = (
        to_dataset(
            validation_samples,
            size=hyper.size,
            grid=grid,
            batch_size=hyper.batch_size,
            shuffle=False,
            seed=hyper.seed,
        )
        if validation_samples
        else None
    )
    network = build_network(size=hyper.size, backbone=hyper.backbone, stride=hyper.stride)
    cancel = CancelCallback(should_stop, report)
    history = fit(
        network,
        train,
        validation,
        hyper,
        checkpoint_dir=workdir / "checkpoints",
        validation_frames=splits["validation"] or None,
        verbose=verbose,
        extra_callbacks=[cancel],
    )
    if cancel.cancelled:
        raise TrainingCancelled("training was cancelled")
    outcome = TrainingOutcome(
        history=history,
        split_sizes={k: len(v) for k, v in splits.items()},
        dataset_hash=dataset.content_hash(),
        candidate_dir=workdir / "candidate",
    )
    return network, outcome, splits


def manifest_record(
    outcome: TrainingOutcome, hyper: Hyperparameters, dataset_dir: Path, splits: dict[str, list[Any]]
) -> dict[str, Any]:
    """What the published version's manifest says about how it was trained."""
    from amyplant_trainer.network import pretrained_weights  # TensorFlow only where needed

    return {
        "dataset": str(dataset_dir),
        "dataset_sha256": outcome.dataset_hash,
        "split": {name: [a.image_path.name for a in items] for name, items in splits.items()},
        "hyperparameters": asdict(hyper),
        "pretrained_backbone": pretrained_weights(hyper.backbone),
        "history": outcome.history,
    }
