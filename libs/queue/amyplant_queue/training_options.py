"""What a face-detector training run may ask for, and its defaults; shared without importing TensorFlow.

The CLI, the REST API (TrainingStart), the queue message (TrainingRequest) and the trainer itself
(fitting.Hyperparameters, network.build_network) all take these, so a default changed here changes
everywhere at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

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
# Share of augmented samples that are close-ups of one face (augment.py says why, and what it cost).
DEFAULT_CLOSE_UP_SHARE = 0.2


class TrainingOptions(BaseModel):
    """The choices a caller may make for one run; the REST body and the queue message both carry them."""

    epochs: Annotated[int, Field(ge=1, le=1000)] = DEFAULT_EPOCHS
    backbone: Backbone = DEFAULT_BACKBONE
    size: Annotated[int, Field(ge=64, le=1024, multiple_of=SIZE_MULTIPLE)] = DEFAULT_SIZE
    stride: Stride = Field(
        DEFAULT_STRIDE, description="Cell size of the heads in input pixels (8 finds smaller faces)."
    )
    expansion: Annotated[int, Field(ge=1, le=200, description="Augmented copies of each training image.")] = (
        DEFAULT_EXPANSION
    )
    close_up_share: Annotated[
        float,
        Field(ge=0.0, le=1.0, description="Share of augmented samples that are close-ups of one face."),
    ] = DEFAULT_CLOSE_UP_SHARE
    seed: int = DEFAULT_SEED
    force: bool = Field(False, description="Publish even when not better than the served detector.")
