"""Tiny models with the real builders' contract and the real serving signatures, for fast tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from amyplant_faces.models.spec import MODEL_NAMES, BuiltModel, WeightSource

ServeFunction = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
LANDMARK_FRACTIONS = np.array([[0.35, 0.4], [0.65, 0.4], [0.5, 0.55], [0.38, 0.7], [0.62, 0.7]], np.float32)
DARK = 0.05  # the tiny detector finds no face in images darker than this


class TinyDetector(tf.Module):  # type: ignore[misc]  # TensorFlow ships no type hints
    """One face in the centre half of any image that is not dark; `scale` multiplies the score."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])  # type: ignore[untyped-decorator]
    def serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        size = tf.cast(tf.shape(image)[:2], tf.float32)
        height, width = size[0], size[1]
        brightness = tf.reduce_mean(tf.cast(image, tf.float32)) / 255.0
        count = tf.cast(brightness > DARK, tf.int32)
        boxes = tf.stack([width * 0.25, height * 0.25, width * 0.75, height * 0.75])[None]
        landmarks = (tf.constant(LANDMARK_FRACTIONS) * tf.stack([width, height]))[None]
        scores = tf.reshape(brightness * self.scale, [1])
        return {"boxes": boxes[:count], "scores": scores[:count], "landmarks": landmarks[:count]}


class TinyEmbedder(tf.Module):  # type: ignore[misc]  # TensorFlow ships no type hints
    """Mean colour of the chip times a fixed 3x128 matrix."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.weights = tf.Variable(embedder_weights(scale))

    @tf.function(input_signature=[tf.TensorSpec([None, 150, 150, 3], tf.uint8, name="chips")])  # type: ignore[untyped-decorator]
    def serve(self, chips: tf.Tensor) -> dict[str, tf.Tensor]:
        pooled = tf.reduce_mean(tf.cast(chips, tf.float32) / 255.0, axis=[1, 2])
        return {"embeddings": pooled @ self.weights}


class TinyAttributes(tf.Module):  # type: ignore[misc]  # TensorFlow ships no type hints
    """Age and gender as smooth functions of the chip's brightness."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 3], tf.uint8, name="chips")])  # type: ignore[untyped-decorator]
    def serve(self, chips: tf.Tensor) -> dict[str, tf.Tensor]:
        mean = tf.reduce_mean(tf.cast(chips, tf.float32) / 255.0, axis=[1, 2, 3])
        age = 10.0 + 60.0 * mean * self.scale
        age_probs = tf.nn.softmax(-tf.square(tf.range(81, dtype=tf.float32)[None] - age[:, None]) / 50.0)
        female = tf.sigmoid((mean - 0.5) * 8.0 * self.scale)
        gender_probs = tf.stack([1.0 - female, female], axis=1)
        return {
            "age": age,
            "age_probs": age_probs,
            "gender_probs": gender_probs,
            "female_probability": female,
        }


class TinyLandmarks(tf.Module):  # type: ignore[misc]  # TensorFlow ships no type hints
    """Fixed fractions of each box, shifted by `scale` pixels."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[
            tf.TensorSpec([None, None, 3], tf.uint8, name="image"),
            tf.TensorSpec([None, 4], tf.float32, name="boxes"),
        ]
    )
    def serve(self, image: tf.Tensor, boxes: tf.Tensor) -> dict[str, tf.Tensor]:
        extent = boxes[:, None, 2:] - boxes[:, None, :2]
        points = boxes[:, None, :2] + tf.constant(LANDMARK_FRACTIONS)[None] * extent + self.scale
        return {"landmarks": tf.floor(points + 0.5), "landmarks_subpixel": points}


def embedder_weights(scale: float) -> np.ndarray:
    return (np.linspace(-1.0, 1.0, 3 * 128, dtype=np.float32).reshape(3, 128) * scale).astype(np.float32)


def reference(name: str, inputs: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    """The tiny models' outputs computed with numpy: the 'original implementation' of the tiny builders."""
    if name == "face_embedder":
        pooled = (inputs["chips"].astype(np.float32) / 255.0).mean(axis=(1, 2))
        return {"embeddings": pooled @ embedder_weights(scale)}
    if name == "face_attributes":
        mean = (inputs["chips"].astype(np.float32) / 255.0).mean(axis=(1, 2, 3))
        female = 1.0 / (1.0 + np.exp(-(mean - 0.5) * 8.0 * scale))
        return {"age": 10.0 + 60.0 * mean * scale, "female_probability": female}
    if name == "face_landmarks":
        boxes = inputs["boxes"]
        extent = boxes[:, None, 2:] - boxes[:, None, :2]
        points = boxes[:, None, :2] + LANDMARK_FRACTIONS[None] * extent + np.float32(scale)
        return {"landmarks": np.floor(points + 0.5), "landmarks_subpixel": points}
    image = inputs["image"]
    height, width = image.shape[:2]
    brightness = image.astype(np.float32).mean() / 255.0
    count = int(brightness > DARK)
    boxes = np.array([[width * 0.25, height * 0.25, width * 0.75, height * 0.75]], np.float32)
    return {
        "boxes": boxes[:count],
        "scores": np.array([brightness * scale], np.float32)[:count],
        "landmarks": (LANDMARK_FRACTIONS * np.array([width, height], np.float32))[None][:count],
    }


def sample_inputs(name: str, *, seed: int = 0, batch: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if name == "face_detector":
        return {"image": rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)}
    if name == "face_landmarks":
        boxes = np.array([[10, 12, 70, 80], [-5, 40, 50, 100]], np.float32)[: max(batch, 1)]
        return {"image": rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), "boxes": boxes}
    size = 150 if name == "face_embedder" else 64
    return {"chips": rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)}


@dataclass
class TinyBuilder:
    """A builder with the real builders' contract (build, check) for one tiny model."""

    name: str
    scale: float = 1.0
    builds: int = 0

    def build(self, progress: Callable[[str], None] | None = None) -> BuiltModel:
        self.builds += 1
        if progress is not None:
            progress("tiny")
        module = {
            "face_detector": TinyDetector,
            "face_embedder": TinyEmbedder,
            "face_attributes": TinyAttributes,
            "face_landmarks": TinyLandmarks,
        }[self.name](self.scale)
        source = WeightSource(package="tests", version="0", file="tiny", sha256="0" * 64, licence="MIT")
        return BuiltModel(
            name=self.name,
            module=module,
            signature={"scale": self.scale},
            sources=[source],
            figures={"built_with_scale": self.scale},
            extra={"tiny": True},
        )

    def check(self, serve: ServeFunction, data_dir: Path | None) -> dict[str, Any]:
        inputs = sample_inputs(self.name)
        expected = reference(self.name, inputs, self.scale)
        outputs = serve(inputs)
        diff = max(float(np.max(np.abs(outputs[k] - v), initial=0.0)) for k, v in expected.items())
        return {"max_abs_diff": diff, "inputs": "generated", "data_dir": str(data_dir)}


def tiny_builders(scale: float = 1.0) -> dict[str, TinyBuilder]:
    return {name: TinyBuilder(name, scale) for name in MODEL_NAMES}
