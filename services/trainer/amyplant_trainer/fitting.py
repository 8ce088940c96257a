"""Training: the combined loss in a custom train_step, early stopping, checkpoints, determinism."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from amyplant_queue.training_options import (
    DEFAULT_BACKBONE,
    DEFAULT_CLOSE_UP_SHARE,
    DEFAULT_EPOCHS,
    DEFAULT_EXPANSION,
    DEFAULT_SEED,
    DEFAULT_SIZE,
    DEFAULT_STRIDE,
    Backbone,
    Stride,
    TrainingOptions,
)
from amyplant_trainer.labelme import Annotation
from amyplant_trainer.losses import detector_losses
from amyplant_trainer.network import PRETRAINED_LAYER
from amyplant_trainer.selection import BestValidationAP

LOSS_NAMES = ("loss", "classification", "localization", "landmarks")


@dataclass(frozen=True)
class Hyperparameters:
    """Everything that shapes a training run; recorded in the published model's manifest."""

    size: int = DEFAULT_SIZE
    backbone: Backbone = DEFAULT_BACKBONE
    stride: Stride = DEFAULT_STRIDE
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 16
    learning_rate: float = 1e-3
    # The learning rate falls along a cosine over the planned epochs, to zero. Why: at a constant rate
    # the validation AP swung by up to 0.18 from one epoch to the next (0.99, 0.83, 0.90, 1.0, 0.82),
    # so which weights a run kept was luck; small last steps settle the boxes.
    cosine_decay: bool = True
    # Pretrained weights (the BlazeFace backbone) learn at learning_rate x this: Adam moves every weight
    # by about the learning rate per step whatever its gradient, which wipes small pretrained weights.
    pretrained_learning_rate_scale: float = 0.1
    positive_weight: float = 20.0
    box_weight: float = 1.0
    landmark_weight: float = 1.0
    patience: int = 3
    # Under the cosine, early stopping watches the validation loss only from this fraction of the planned
    # epochs on. Why: while the rate is high the validation loss can rise for epochs on end (a
    # validation close-up larger than any training face costs all of its cells), and patience 3 ended
    # a run at its 4th of 10 epochs, before the low-rate epochs that settled every other run.
    early_stopping_start: float = 2 / 3
    expansion: int = DEFAULT_EXPANSION
    # Share of augmented samples that are close-ups of one face (augment.py; off by default, see there).
    close_up_share: float = DEFAULT_CLOSE_UP_SHARE
    seed: int = DEFAULT_SEED

    @classmethod
    def from_options(cls, options: TrainingOptions, **rest: Any) -> Hyperparameters:
        """A run's hyperparameters from a caller's validated choices (CLI, REST body or queue message)."""
        return cls(
            epochs=options.epochs,
            backbone=options.backbone,
            size=options.size,
            stride=options.stride,
            expansion=options.expansion,
            close_up_share=options.close_up_share,
            seed=options.seed,
            **rest,
        )


class DetectorTrainer(keras.Model):  # type: ignore[misc]
    """Wraps the network so fit() optimises our combined loss and reports each of its terms."""

    def __init__(
        self, network: keras.Model, hyper: Hyperparameters, *, decay_steps: int | None = None
    ) -> None:
        super().__init__()
        self.network = network
        self.hyper = hyper
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSS_NAMES}
        self.pretrained_optimizer = keras.optimizers.Adam(
            learning_rate_for(hyper.learning_rate * hyper.pretrained_learning_rate_scale, decay_steps)
        )

    def call(self, inputs: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        outputs: dict[str, tf.Tensor] = self.network(inputs, training=training)
        return outputs

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def _loss_terms(self, targets: tf.Tensor, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return detector_losses(
            targets,
            outputs,
            positive_weight=self.hyper.positive_weight,
            box_weight=self.hyper.box_weight,
            landmark_weight=self.hyper.landmark_weight,
        )

    def train_step(self, data: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        images, targets = data
        with tf.GradientTape() as tape:
            losses = self._loss_terms(targets, self.network(images, training=True))
        pretrained, fresh = self._variable_groups()
        gradients = tape.gradient(losses["loss"], [*pretrained, *fresh])
        if pretrained:
            self.pretrained_optimizer.apply(gradients[: len(pretrained)], pretrained)
        self.optimizer.apply(gradients[len(pretrained) :], fresh)
        return self._track(losses)

    def _variable_groups(self) -> tuple[list[keras.Variable], list[keras.Variable]]:
        """(pretrained, freshly initialised) trainable variables."""
        names = {layer.name for layer in self.network.layers}
        pretrained = (
            self.network.get_layer(PRETRAINED_LAYER).trainable_variables if PRETRAINED_LAYER in names else []
        )
        held = {id(v) for v in pretrained}
        return list(pretrained), [v for v in self.network.trainable_variables if id(v) not in held]

    def test_step(self, data: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        images, targets = data
        return self._track(self._loss_terms(targets, self.network(images, training=False)))

    def _track(self, losses: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def learning_rate_for(
    initial: float, decay_steps: int | None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A cosine decay from `initial` to zero over `decay_steps` steps, or `initial` throughout."""
    if not decay_steps:
        return initial
    return keras.optimizers.schedules.CosineDecay(initial, decay_steps)


def planned_steps(train: tf.data.Dataset, hyper: Hyperparameters) -> int | None:
    """Optimizer steps in the planned epochs (None when not decaying, or the batch count is unknown)."""
    batches = int(train.cardinality())
    if not hyper.cosine_decay or batches <= 0:
        return None
    return batches * hyper.epochs


def early_stopping(hyper: Hyperparameters, monitor: str) -> keras.callbacks.EarlyStopping:
    """Stops after `patience` epochs without a lower `monitor`, watched from the schedule's late part on."""
    first_watched = int(hyper.epochs * hyper.early_stopping_start) if hyper.cosine_decay else 0
    return keras.callbacks.EarlyStopping(
        monitor=monitor, patience=hyper.patience, restore_best_weights=True, start_from_epoch=first_watched
    )


def make_deterministic(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit(
    network: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None,
    hyper: Hyperparameters,
    *,
    checkpoint_dir: Path,
    validation_frames: list[Annotation] | None = None,
    verbose: int = 1,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> dict[str, list[float]]:
    """Train with early stopping on validation loss and per-epoch checkpoints. The weights kept are the
    epoch's with the best validation AP over IoU 0.5-0.75 when validation frames are given
    (selection.py), otherwise the epoch's with the lowest validation loss."""
    decay_steps = planned_steps(train, hyper)
    trainer = DetectorTrainer(network, hyper, decay_steps=decay_steps)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate_for(hyper.learning_rate, decay_steps)))
    # A subclassed model is built by a first call; checkpoints cannot be written before that.
    trainer(tf.zeros((1, hyper.size, hyper.size, 3)))
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    monitor = "val_loss" if validation is not None else "loss"
    # Listed after EarlyStopping, so its choice of weights at the end of training is the last word.
    chooser = [BestValidationAP(network, validation_frames, size=hyper.size)] if validation_frames else []
    callbacks: list[keras.callbacks.Callback] = [
        early_stopping(hyper, monitor),
        *chooser,
        keras.callbacks.ModelCheckpoint(
            str(checkpoint_dir / "epoch-{epoch:03d}.weights.h5"), save_weights_only=True
        ),
        *(extra_callbacks or []),
    ]
    history: Any = trainer.fit(
        train, validation_data=validation, epochs=hyper.epochs, callbacks=callbacks, verbose=verbose
    )
    return {name: [float(v) for v in values] for name, values in history.history.items()}
