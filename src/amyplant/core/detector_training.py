"""What a face-detector training run may ask for, and its defaults; shared without importing TensorFlow.

The CLI, the REST API, the queue message (TrainingRequest) and the trainer itself (fitting.Hyperparameters,
network.build_network) all take these, so a default changed here changes everywhere at once.
"""

from __future__ import annotations

from typing import Literal

Backbone = Literal["blazeface", "mobilenetv2", "vgg16"]
BACKBONES: tuple[Backbone, ...] = ("blazeface", "mobilenetv2", "vgg16")
Stride = Literal[8, 16]
STRIDES: tuple[Stride, ...] = (8, 16)
# BlazeFace's deepest map is at stride 32 and is upsampled onto the stride-16 map: inputs (and the
# export's padded frames) are a multiple of 32 whatever the backbone and the head's stride.
SIZE_MULTIPLE = 32

DEFAULT_BACKBONE: Backbone = "blazeface"
DEFAULT_SIZE = 192
DEFAULT_STRIDE: Stride = 8
DEFAULT_EPOCHS = 10
# Augmented copies of each training image, as in the original workflow.
DEFAULT_EXPANSION = 30
DEFAULT_SEED = 1234
