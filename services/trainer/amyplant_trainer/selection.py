"""Which epoch's weights a run keeps: the one that finds and boxes the validation faces best."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from amyplant_trainer.export import ExportedDetector
from amyplant_trainer.gate import score_detector
from amyplant_trainer.labelme import Annotation


class BestValidationAP(keras.callbacks.Callback):  # type: ignore[misc]
    """After each epoch, scores the network on the validation frames as the export would serve them
    (letterbox, decoding, NMS; the gate's score_detector) and logs `val_ap_50` and `val_ap_50_to_75`;
    at the end of training the weights of the epoch with the best `val_ap_50_to_75` are restored.

    Why not the weights of the lowest validation loss: on the clip the validation loss rose from the
    first epoch (a close-up larger than any training face costs every one of its cells) while the
    validation AP@0.5 rose from 0.47 to 0.88; the lowest-loss weights scored 0.44 on the test split.
    Early stopping still watches the validation loss; this only chooses among the epochs it ran.
    Why AP averaged over IoU 0.5-0.75 rather than the gate's AP@0.5: a few dozen validation frames
    saturate AP@0.5 (1.0 at two epochs of one run, whose test boxes were loose: AP@0.3 0.98, AP@0.5
    0.86); the stricter average still ranks epochs by how tightly they box the faces.
    """

    def __init__(self, network: keras.Model, frames: list[Annotation], *, size: int) -> None:
        super().__init__()
        self.network = network
        self.frames = frames
        self.detector = ExportedDetector(network, size)
        self.best_ap = -1.0
        self.best_weights: list[np.ndarray] | None = None

    def _serve(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.detector.serve(tf.constant(inputs["image"]))
        return {name: value.numpy() for name, value in outputs.items()}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        score = score_detector(self._serve, self.frames)
        if logs is not None:
            logs["val_ap_50"] = score.ap_50
            logs["val_ap_50_to_75"] = score.ap_50_to_75
        if score.ap_50_to_75 > self.best_ap:
            self.best_ap = score.ap_50_to_75
            self.best_weights = self.network.get_weights()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            self.network.set_weights(self.best_weights)
