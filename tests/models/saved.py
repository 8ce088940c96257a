"""A built model written as the model repository writes it, loaded back, and called by its signature."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

Serve = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def save_and_load(built: Any, folder: Path) -> Any:
    """tf.saved_model.save into `folder`/1 with the serving_default signature, then tf.saved_model.load."""
    path = folder / "1"
    tf.saved_model.save(built.module, str(path), signatures={"serving_default": built.module.serve})
    return tf.saved_model.load(str(path))


def signature_caller(loaded: Any) -> Serve:
    """serving_default as a function of named numpy arrays, returning numpy arrays."""
    function = loaded.signatures["serving_default"]

    def call(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    return call
