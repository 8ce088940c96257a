"""The one interface every service uses to run the face models, its typed results and its factory."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Literal, Self

import numpy as np

from amyplant_faces.models.spec import MODEL_NAMES

if TYPE_CHECKING:
    from amyplant_config.settings import CommonSettings

DETECTOR = "face_detector"
EMBEDDER = "face_embedder"
ATTRIBUTES = "face_attributes"
LANDMARKS = "face_landmarks"

EMBEDDING_SIZE = 128
EMBEDDER_CHIP_SIZE = 150
ATTRIBUTES_CHIP_SIZE = 64

SERVING_SIGNATURE = "serving_default"
HOG_SIGNATURE = "hog_detector"  # face_landmarks' second signature: dlib's HOG face detector's filters

# Trailing shape of each output of the fixed serving signatures (the leading dimension is the batch or
# the number of faces). Transports that lose shapes, such as REST's JSON for empty results, restore them
# from this table.
OUTPUT_SHAPES: Mapping[str, Mapping[str, tuple[int, ...]]] = MappingProxyType(
    {
        DETECTOR: MappingProxyType({"boxes": (4,), "scores": (), "landmarks": (5, 2)}),
        EMBEDDER: MappingProxyType({"embeddings": (EMBEDDING_SIZE,)}),
        ATTRIBUTES: MappingProxyType(
            {"age": (), "age_probs": (81,), "gender_probs": (2,), "female_probability": ()}
        ),
        LANDMARKS: MappingProxyType({"landmarks": (5, 2), "landmarks_subpixel": (5, 2)}),
    }
)

Gender = Literal["female", "male"]


class ModelServerError(RuntimeError):
    """A model could not be run."""


class ModelServerUnavailable(ModelServerError):
    """The model server cannot be reached (after retries) or did not answer in time."""

    def __init__(self, address: str, detail: str) -> None:
        super().__init__(f"model server {address} is unavailable: {detail}")
        self.address = address


class ModelNotFound(ModelServerError):
    """The server or repository has no such model, or not the requested version."""

    def __init__(self, model: str, address: str, *, version: int | None = None, detail: str = "") -> None:
        what = f"model {model!r}" if version is None else f"version {version} of model {model!r}"
        suffix = f": {detail}" if detail else ""
        super().__init__(f"{what} is not served by {address}{suffix}")
        self.model = model
        self.address = address
        self.version = version
        self.detail = detail


@dataclass(frozen=True)
class Detection:
    """One face found by the detector, in input-image pixels."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]

    def landmarks_array(self) -> np.ndarray:
        """The 5 landmarks as a float32 [5, 2] array (x, y)."""
        return np.asarray(self.landmarks, dtype=np.float32).reshape(-1, 2)


@dataclass(frozen=True)
class HogDetectorWeights:
    """dlib's frontal face detector as the face_landmarks model carries it (builders/landmarks.py):
    filters [F, 31, rows, cols] and thresholds [F] (float64), config [7] (cell size, padding, window
    width and height, most levels, smallest level width and height), overlap [2] (its suppression's
    overlap and covered fractions)."""

    filters: np.ndarray
    thresholds: np.ndarray
    config: np.ndarray
    overlap: np.ndarray


@dataclass(frozen=True)
class Attributes:
    """Estimated age and gender of one face chip."""

    age: float
    female_probability: float
    gender: Gender


@dataclass(frozen=True)
class ModelVersionState:
    """One version of a model as the runtime sees it (TensorFlow Serving's state names where it has them)."""

    version: int
    state: str
    error: str = ""

    @property
    def servable(self) -> bool:
        # LOADABLE: on disk and loaded by the in-process runtime on first use.
        return self.state in ("AVAILABLE", "LOADABLE")


@dataclass(frozen=True)
class ModelStatus:
    """The versions of one model and the one that unversioned requests reach."""

    name: str
    versions: tuple[ModelVersionState, ...]
    error: str = ""

    @property
    def available_versions(self) -> tuple[int, ...]:
        return tuple(sorted(v.version for v in self.versions if v.servable))

    @property
    def serving_version(self) -> int | None:
        available = self.available_versions
        return available[-1] if available else None


@dataclass(frozen=True)
class RuntimeStatus:
    """Which models and versions a runtime can serve now."""

    backend: str
    address: str
    models: tuple[ModelStatus, ...]

    def model(self, name: str) -> ModelStatus | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def ready(self) -> bool:
        """Whether every model of the system has a version to serve."""
        return all(
            (m := self.model(name)) is not None and m.serving_version is not None for name in MODEL_NAMES
        )


class ModelClient(ABC):
    """Runs the face models; subclasses only move named tensors to and from a runtime."""

    @property
    @abstractmethod
    def address(self) -> str:
        """Where the models run, for messages and status."""

    @abstractmethod
    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: int | None = None,
        signature: str = SERVING_SIGNATURE,
    ) -> dict[str, np.ndarray]:
        """Run a signature of a model (serving_default unless named) on named inputs; the newest version
        unless `version`. A signature the version does not have raises ValueError."""

    @abstractmethod
    def status(self) -> RuntimeStatus:
        """Which models and versions are available."""

    def warm_up(self) -> None:  # noqa: B027 - an optional hook, empty for remote runtimes
        """Make the first real request fast (loads models where that applies)."""

    def close(self) -> None:  # noqa: B027 - an optional hook
        """Release connections or loaded models."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def detect(self, image: np.ndarray, *, model_version: int | None = None) -> list[Detection]:
        """Faces in one RGB uint8 image [H, W, 3]."""
        _require_image(image)
        outputs = self._predict_shaped(DETECTOR, {"image": image}, model_version)
        return detections_from_outputs(outputs)

    def detect_batch(
        self, images: Sequence[np.ndarray], *, model_version: int | None = None
    ) -> list[list[Detection]]:
        """Faces in each of several images (the detector's signature takes one image per call)."""
        return [self.detect(image, model_version=model_version) for image in images]

    def landmarks(
        self, image: np.ndarray, boxes: np.ndarray, *, model_version: int | None = None
    ) -> np.ndarray:
        """dlib's 5 points (float32 [N, 5, 2], sub-pixel: the model's `landmarks` output holds them rounded
        as dlib rounds them) for rectangles [N, 4] (left, top, right, bottom in dlib's convention) of
        one RGB uint8 image."""
        _require_image(image)
        rectangles = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if len(rectangles) == 0:
            return np.zeros((0, 5, 2), dtype=np.float32)
        outputs = self._predict_shaped(LANDMARKS, {"image": image, "boxes": rectangles}, model_version)
        return outputs["landmarks_subpixel"]

    def hog_detector(self, *, model_version: int | None = None) -> HogDetectorWeights:
        """The HOG detector the landmarks model's predictor starts from; ValueError when this version of
        the model was built without it."""
        outputs = self.predict(
            LANDMARKS, {"detectors": np.zeros(0, np.int32)}, version=model_version, signature=HOG_SIGNATURE
        )
        try:
            return HogDetectorWeights(
                filters=np.asarray(outputs["filters"], dtype=np.float64),
                thresholds=np.asarray(outputs["thresholds"], dtype=np.float64).reshape(-1),
                config=np.asarray(outputs["config"], dtype=np.int64).reshape(-1),
                overlap=np.asarray(outputs["overlap"], dtype=np.float64).reshape(-1),
            )
        except KeyError as missing:
            raise ModelServerError(f"{LANDMARKS} {HOG_SIGNATURE} answered without {missing}") from None

    def attributes(self, chips64: np.ndarray, *, model_version: int | None = None) -> list[Attributes]:
        """Age and gender of aligned RGB uint8 chips [B, 64, 64, 3]."""
        _require_chips(chips64, ATTRIBUTES_CHIP_SIZE)
        if len(chips64) == 0:
            return []
        outputs = self._predict_shaped(ATTRIBUTES, {"chips": chips64}, model_version)
        return attributes_from_outputs(outputs)

    def embed(self, chips150: np.ndarray, *, model_version: int | None = None) -> np.ndarray:
        """128-d descriptors (float32 [B, 128]) of aligned RGB uint8 chips [B, 150, 150, 3]."""
        _require_chips(chips150, EMBEDDER_CHIP_SIZE)
        if len(chips150) == 0:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        return self._predict_shaped(EMBEDDER, {"chips": chips150}, model_version)["embeddings"]

    def _predict_shaped(
        self, model: str, inputs: Mapping[str, np.ndarray], version: int | None
    ) -> dict[str, np.ndarray]:
        return shape_outputs(model, self.predict(model, inputs, version=version))


def shape_outputs(model: str, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs as float32 arrays with the signature's trailing shapes; a missing output is an error."""
    shaped: dict[str, np.ndarray] = {}
    for name, trailing in OUTPUT_SHAPES[model].items():
        if name not in outputs:
            raise ModelServerError(f"{model} answered without output {name!r} (got {sorted(outputs)})")
        shaped[name] = np.asarray(outputs[name], dtype=np.float32).reshape((-1, *trailing))
    return shaped


def detections_from_outputs(outputs: Mapping[str, np.ndarray]) -> list[Detection]:
    """Typed detections from the detector's boxes, scores and landmarks."""
    return [
        Detection(
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            score=float(score),
            landmarks=tuple((float(x), float(y)) for x, y in points),
        )
        for box, score, points in zip(outputs["boxes"], outputs["scores"], outputs["landmarks"], strict=True)
    ]


def attributes_from_outputs(outputs: Mapping[str, np.ndarray]) -> list[Attributes]:
    """Typed attributes from the attributes model's outputs."""
    return [
        Attributes(
            age=float(age), female_probability=float(female), gender="female" if female >= 0.5 else "male"
        )
        for age, female in zip(outputs["age"], outputs["female_probability"], strict=True)
    ]


def _require_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}")


def _require_chips(chips: np.ndarray, size: int) -> None:
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (size, size, 3):
        raise ValueError(f"expected RGB uint8 chips [B, {size}, {size}, 3], got {chips.dtype} {chips.shape}")


def create_model_client(settings: CommonSettings) -> ModelClient:
    """In-process models when no model server is configured, else a TensorFlow Serving client.

    `settings.model_server` takes grpc://host:port (gRPC, port 8500 by convention) or
    http(s)://host:port (REST, port 8501).
    """
    if not settings.model_server:
        from amyplant_faces.models.inprocess import InProcessRuntime

        return InProcessRuntime(settings.resolved_model_repository)
    from amyplant_faces.models.tfserving import TFServingClient

    return TFServingClient(settings.model_server)
