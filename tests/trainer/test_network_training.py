"""The detector network trains on generated scenes (loss falls) and exports the face_detector signature."""

from __future__ import annotations

from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from amyplant_trainer.augment import AugmentedSample
from amyplant_trainer.export import ExportedDetector
from amyplant_trainer.fitting import (
    DetectorTrainer,
    Hyperparameters,
    early_stopping,
    fit,
    learning_rate_for,
    make_deterministic,
    planned_steps,
)
from amyplant_trainer.labelme import Annotation, FaceBox
from amyplant_trainer.losses import localization_loss
from amyplant_trainer.network import build_network
from amyplant_trainer.pipeline_data import to_dataset
from amyplant_trainer.targets import CENTRE_REACH


def _samples(count: int, size: int) -> list[AugmentedSample]:
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(count):
        image = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
        side = int(rng.integers(size // 4, size // 2))
        x, y = (int(v) for v in rng.integers(0, size - side, 2))
        image[y : y + side, x : x + side] = 230
        box = np.array([[x, y, x + side, y + side]], dtype=np.float32) / size
        samples.append(AugmentedSample(image, box, np.zeros((1, 5, 2), np.float32), np.zeros(1, bool)))
    return samples


def test_localization_loss_is_relative_coordinate_plus_log_size_on_face_cells_only() -> None:
    truth = tf.constant([[[0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]]])
    predicted = tf.constant([[[0.2, 0.1, 0.5, 0.7], [0.9, 0.9, 1.0, 1.0]]])
    mask = tf.constant([[1.0, 0.0]])
    # top-left error in units of the true size (0.1 / 0.4)^2; size error log(0.3/0.4)^2 + log(0.6/0.4)^2;
    # the unmasked cell does not count.
    expected = 0.25**2 + np.log(0.75) ** 2 + np.log(1.5) ** 2
    np.testing.assert_allclose(float(localization_loss(truth, predicted, mask)), expected, rtol=1e-5)


def test_training_lowers_the_loss_and_export_serves_faces(tmp_path: Path) -> None:
    make_deterministic(3)
    size = 64
    hyper = Hyperparameters(size=size, epochs=4, batch_size=8, learning_rate=3e-3, patience=10, seed=3)
    samples = _samples(32, size)
    train = to_dataset(samples, size=size, grid=size // 16, batch_size=8, shuffle=True, seed=3)
    network = build_network(size=size, backbone="mobilenetv2", stride=16)
    history = fit(network, train, None, hyper, checkpoint_dir=tmp_path / "checkpoints", verbose=0)
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    assert list((tmp_path / "checkpoints").glob("epoch-*.weights.h5"))

    module = ExportedDetector(network, size, score_threshold=0.0)
    tf.saved_model.save(module, str(tmp_path / "export"), signatures={"serving_default": module.serve})
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    outputs = serve(image=tf.constant(np.zeros((90, 160, 3), np.uint8)))
    assert set(outputs) == {"boxes", "scores", "landmarks"}
    boxes = outputs["boxes"].numpy()
    assert boxes.shape[1:] == (4,) and outputs["landmarks"].shape[1:] == (5, 2)
    assert (boxes[:, 2] <= 160).all() and (boxes[:, 3] <= 90).all()


def test_the_stride_8_pyramid_gives_each_cell_of_a_finer_grid_its_outputs() -> None:
    coarse = build_network(size=64, backbone="mobilenetv2", stride=16)
    fine = build_network(size=64, backbone="mobilenetv2", stride=8)
    pixels = tf.zeros((2, 64, 64, 3))
    assert coarse(pixels)["objectness"].shape == (2, 4, 4, 1)
    outputs = fine(pixels)
    assert outputs["objectness"].shape == (2, 8, 8, 1)
    assert outputs["boxes"].shape == (2, 8, 8, 4) and outputs["landmarks"].shape == (2, 8, 8, 10)
    # Cell (row 3, column 5) of an 8-cell grid can only claim a face centred within CENTRE_REACH cells.
    centre_x = (outputs["boxes"][0, 3, 5, 0] + outputs["boxes"][0, 3, 5, 2]) / 2
    assert (5.5 - CENTRE_REACH) / 8 <= float(centre_x) <= (5.5 + CENTRE_REACH) / 8


def _validation_frames(folder: Path, samples: list[AugmentedSample]) -> list[Annotation]:
    folder.mkdir()
    frames = []
    for index, sample in enumerate(samples):
        path = folder / f"frame_{index}.png"
        cv2.imwrite(str(path), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        size = sample.image.shape[0]
        faces = [FaceBox(*(float(v) * size for v in box)) for box in sample.boxes]
        frames.append(Annotation(image_path=path, width=size, height=size, faces=faces))
    return frames


def test_the_run_keeps_the_epoch_with_the_best_validation_ap(tmp_path: Path) -> None:
    make_deterministic(5)
    size = 64
    hyper = Hyperparameters(
        size=size, backbone="mobilenetv2", stride=16, epochs=3, batch_size=8, learning_rate=3e-3, patience=10
    )
    samples = _samples(40, size)
    train = to_dataset(samples[:32], size=size, grid=size // 16, batch_size=8, shuffle=True, seed=5)
    network = build_network(size=size, backbone="mobilenetv2", stride=16)
    history = fit(
        network,
        train,
        None,
        hyper,
        checkpoint_dir=tmp_path / "checkpoints",
        validation_frames=_validation_frames(tmp_path / "validation", samples[32:]),
        verbose=0,
    )
    scores = history["val_ap_50_to_75"]
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    # The stricter average never exceeds AP@0.5, which is logged beside it.
    assert all(s <= a + 1e-9 for s, a in zip(scores, history["val_ap_50"], strict=True))
    best_epoch = int(np.argmax(scores)) + 1
    # The network now holds exactly the weights saved at the end of the best epoch.
    saved = DetectorTrainer(build_network(size=size, backbone="mobilenetv2", stride=16), hyper)
    saved(tf.zeros((1, size, size, 3)))
    saved.load_weights(tmp_path / "checkpoints" / f"epoch-{best_epoch:03d}.weights.h5")
    for kept, expected in zip(network.get_weights(), saved.network.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, expected)
    if best_epoch < 3:  # and not the last epoch's, which training ended with
        last = DetectorTrainer(build_network(size=size, backbone="mobilenetv2", stride=16), hyper)
        last(tf.zeros((1, size, size, 3)))
        last.load_weights(tmp_path / "checkpoints" / "epoch-003.weights.h5")
        assert any(
            not np.array_equal(a, b)
            for a, b in zip(network.get_weights(), last.network.get_weights(), strict=True)
        )


def test_the_learning_rate_falls_along_a_cosine_over_the_planned_epochs() -> None:
    samples = _samples(20, 64)
    train = to_dataset(samples, size=64, grid=4, batch_size=8, shuffle=True, seed=5)  # 3 batches
    steps = planned_steps(train, Hyperparameters(epochs=4))
    assert steps == 12
    assert planned_steps(train, Hyperparameters(epochs=4, cosine_decay=False)) is None
    schedule = learning_rate_for(1e-3, steps)
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule), schedule
    rates = [float(schedule(step)) for step in (0, 6, 12)]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[1] == pytest.approx(5e-4, rel=1e-3)  # half way down the cosine
    assert rates[2] == pytest.approx(0.0, abs=1e-9)
    assert learning_rate_for(1e-3, None) == 1e-3


def _epochs_run(stopper: keras.callbacks.EarlyStopping, val_losses: list[float]) -> int:
    """Drives Keras' own callback with a history of validation losses, as fit() would."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stopper.set_model(model)
    model.stop_training = False
    stopper.on_train_begin()
    for epoch, value in enumerate(val_losses):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            return epoch + 1
    return len(val_losses)


def test_early_stopping_waits_for_the_late_part_of_the_cosine() -> None:
    rising = [0.6, 0.7, 0.8, 0.84, 0.9, 0.95, 1.0, 1.1, 1.2, 1.3]  # seed 1234's first four, then on
    cosine = Hyperparameters(epochs=10, patience=3)
    # Watched from epoch 7 (0-based 6): the earliest stop is after epoch 10, so the cosine finishes.
    assert _epochs_run(early_stopping(cosine, "val_loss"), rising) == 10
    longer = Hyperparameters(epochs=30, patience=3)
    assert _epochs_run(early_stopping(longer, "val_loss"), rising * 3) == 24  # watched from 21st, +3
    constant = Hyperparameters(epochs=10, patience=3, cosine_decay=False)
    assert _epochs_run(early_stopping(constant, "val_loss"), rising) == 4
