"""The BlazeFace backbone starts as the package's own network, trains, and exports at any frame shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from amyplant_modelbuild.builders.detector import blazeface_path
from amyplant_modelbuild.builders.tflite_reader import TfliteNetwork, read_tflite
from amyplant_trainer.blazeface_backbone import FEATURE_TENSORS, BlazeFaceBackbone
from amyplant_trainer.export import ExportedDetector
from amyplant_trainer.network import build_network


def test_the_backbone_computes_the_served_blazeface_features_and_every_weight_trains() -> None:
    served = TfliteNetwork(read_tflite(blazeface_path()))
    pixels = tf.constant(np.random.default_rng(5).uniform(-1, 1, (2, 192, 192, 3)), tf.float32)
    for stride, tensor in FEATURE_TENSORS.items():
        backbone = BlazeFaceBackbone(stride)
        features = backbone(pixels)
        assert features.shape == (2, 192 // stride, 192 // stride, features.shape[-1])
        np.testing.assert_allclose(features.numpy(), served.intermediate(pixels, tensor).numpy(), atol=1e-5)

    backbone = BlazeFaceBackbone(8)
    assert backbone.trainable_weights and len(backbone.trainable_weights) == len(backbone.weights)
    before = [w.numpy().copy() for w in backbone.trainable_weights]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(backbone(pixels)))
    gradients = tape.gradient(loss, backbone.trainable_weights)
    assert all(g is not None for g in gradients)
    tf.keras.optimizers.SGD(0.1).apply(gradients, backbone.trainable_weights)
    assert np.abs(before[0] - backbone.trainable_weights[0].numpy()).max() > 0


def test_export_cuts_a_wide_frame_to_its_own_shape_and_finds_the_same_cells(tmp_path: Path) -> None:
    """A 16:9 frame is fed as 192x128 instead of a 192x192 square: same outputs in the shared cells."""
    network = build_network(size=192, backbone="mobilenetv2", stride=16)
    frame = np.random.default_rng(2).integers(0, 255, (108, 192, 3)).astype(np.float32)
    square = np.zeros((1, 192, 192, 3), np.float32)
    square[0, :108] = frame
    wide = square[:, :128]
    whole, cut = network(square, training=False), network(wide, training=False)
    assert cut["boxes"].shape == (1, 8, 12, 4)
    np.testing.assert_allclose(cut["boxes"].numpy(), whole["boxes"][:, :8].numpy(), atol=1e-5)

    blazeface = build_network(size=192, backbone="blazeface", stride=8)
    module = ExportedDetector(blazeface, 192, score_threshold=0.0)
    tf.saved_model.save(module, str(tmp_path / "export"), signatures={"serving_default": module.serve})
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    outputs = serve(image=tf.constant(np.zeros((360, 640, 3), np.uint8)))
    boxes = outputs["boxes"].numpy()
    assert boxes.shape[1:] == (4,) and outputs["landmarks"].shape[1:] == (5, 2)
    # Every box comes from the 24 x 16 cells of the 192 x 128 input (6 px of frame rows per input row).
    assert len(boxes) <= 24 * 16 and (boxes[:, 3] <= 360).all()
