"""What a model builder hands to the model repository: a servable module and its provenance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_NAMES = ("face_detector", "face_embedder", "face_attributes", "face_landmarks")


@dataclass(frozen=True)
class WeightSource:
    """Where a model's weights came from, recorded in every version's manifest."""

    package: str
    version: str
    file: str
    sha256: str
    licence: str

    @classmethod
    def from_file(cls, *, package: str, version: str, path: Path, licence: str) -> WeightSource:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(package=package, version=version, file=path.name, sha256=digest, licence=licence)


@dataclass
class BuiltModel:
    """A model ready to be written as a SavedModel version.

    `module` is a tf.Module whose `serve` attribute is a tf.function with a fixed
    input signature; it becomes the `serving_default` signature.
    """

    name: str
    module: Any
    signature: dict[str, Any]
    sources: list[WeightSource]
    figures: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # The signature's first dimension is a batch of equal-sized inputs (face chips), so TensorFlow
    # Serving may merge concurrent requests into one run (the version gets a batching_params.pbtxt).
    # Not for a model that takes one whole image of any size: merging would join unrelated pictures.
    batch_requests: bool = False
    # Further signatures besides serving_default: signature name -> name of the module's tf.function.
    signatures: dict[str, str] = field(default_factory=dict)
