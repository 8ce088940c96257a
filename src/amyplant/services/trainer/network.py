"""The detector network (Keras functional API): a VGG16 or MobileNetV2 backbone and per-cell heads.

Every cell of the backbone's stride-16 feature map predicts (a) the probability that a face is centred in
it (classification head, sigmoid, binary cross-entropy), (b) that face's box as sigmoid-bounded corners in
[0, 1] of the input (regression head; the centre is an offset inside the cell, so a cell can only claim
faces centred on it), and (c) 5 landmarks relative to that box. The original single-box model is the
one-cell case of this; more cells are what let one model find several faces.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)
Backbone = Literal["vgg16", "mobilenetv2"]
STRIDE = 16
BATCH_NORM_MOMENTUM = 0.99
# Keras' cache; weights are used only when already on the machine, never downloaded at run time.
IMAGENET_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "mobilenetv2": "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
}


def imagenet_weights(backbone: Backbone) -> str | None:
    path = Path.home() / ".keras" / "models" / IMAGENET_FILES[backbone]
    if path.is_file():
        return str(path)
    logger.warning(
        "ImageNet weights for %s are not on this machine (%s): the backbone starts from random "
        "initialisation, which needs more data and epochs",
        backbone,
        path,
    )
    return None


@keras.saving.register_keras_serializable(package="amyplant")
class CellDecoder(keras.layers.Layer):  # type: ignore[misc]
    """Turns raw per-cell outputs into face probability, corner boxes and landmarks in [0, 1]."""

    def __init__(self, grid: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.grid = grid

    def call(self, raw_score: tf.Tensor, raw_box: tf.Tensor, raw_points: tf.Tensor) -> dict[str, tf.Tensor]:
        cells = tf.range(self.grid, dtype=raw_box.dtype)
        column = tf.reshape(cells, (1, 1, self.grid))
        row = tf.reshape(cells, (1, self.grid, 1))
        offsets = tf.sigmoid(raw_box)
        centre_x = (column + offsets[..., 0]) / self.grid
        centre_y = (row + offsets[..., 1]) / self.grid
        half_w, half_h = offsets[..., 2] / 2, offsets[..., 3] / 2
        boxes = tf.stack(
            [centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], axis=-1
        )
        relative = tf.reshape(tf.sigmoid(raw_points), (-1, self.grid, self.grid, 5, 2))
        origin = tf.expand_dims(boxes[..., :2], -2)
        extent = tf.expand_dims(boxes[..., 2:] - boxes[..., :2], -2)
        points = tf.reshape(origin + relative * extent, (-1, self.grid, self.grid, 10))
        return {"objectness": tf.sigmoid(raw_score), "boxes": boxes, "landmarks": points}

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "grid": self.grid}


def _backbone_features(pixels: keras.KerasTensor, backbone: Backbone, size: int) -> keras.KerasTensor:
    weights = imagenet_weights(backbone)
    if backbone == "vgg16":
        # VGG16 expects BGR with ImageNet means subtracted.
        bgr = keras.layers.Lambda(lambda x: x[..., ::-1] - tf.constant([103.939, 116.779, 123.68]))(pixels)
        base = keras.applications.VGG16(include_top=False, weights=weights, input_tensor=bgr)
        return base.get_layer("block5_conv3").output
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(pixels)
    base = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=0.35, include_top=False, weights=weights, input_tensor=scaled
    )
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Keras builds MobileNetV2 with momentum 0.999: its moving statistics need thousands of steps
            # to follow the weights, so a run of a few hundred steps per epoch is validated (and early-
            # stopped, and exported) with statistics of the initial weights. 0.99 follows within an epoch.
            layer.momentum = BATCH_NORM_MOMENTUM
    return base.get_layer("block_13_expand_relu").output


def build_network(*, size: int = 256, backbone: Backbone = "mobilenetv2") -> keras.Model:
    """Input float32 [B, size, size, 3] RGB in 0..255; outputs objectness, boxes and landmarks per cell."""
    if size % STRIDE:
        raise ValueError(f"input size must be a multiple of {STRIDE}")
    pixels = keras.Input((size, size, 3), name="pixels")
    features = _backbone_features(pixels, backbone, size)
    shared = keras.layers.Conv2D(96, 3, padding="same", activation="relu", name="head_shared")(features)
    raw_score = keras.layers.Conv2D(
        1, 1, name="classification_head", bias_initializer=keras.initializers.Constant(-4.0)
    )(shared)
    raw_box = keras.layers.Conv2D(4, 1, name="regression_head")(shared)
    raw_points = keras.layers.Conv2D(10, 1, name="landmark_head")(shared)
    outputs = CellDecoder(size // STRIDE, name="decode")(raw_score, raw_box, raw_points)
    return keras.Model(pixels, outputs, name=f"face_detector_{backbone}")
