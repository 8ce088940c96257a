"""The face_landmarks model: dlib's 5-point shape predictor (face-recognition-models) as a TF graph."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from amyplant_faces.models.spec import BuiltModel, WeightSource
from amyplant_modelbuild.builders.hog_detector_format import (
    CONFIG_FIELDS,
    SAVED_NAME,
    HogDetectorFile,
    read_hog_detector,
    saved_frontal_detector,
    sha256,
)
from amyplant_modelbuild.builders.hog_detector_format import PACKAGE_DIST as HOG_PACKAGE
from amyplant_modelbuild.builders.shape_predictor_format import ShapePredictor, read_shape_predictor

NAME = "face_landmarks"
PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
PACKAGE_DIST = "face-recognition-models"
# As the package describes dlib's models it ships; the package itself is MIT.
LICENCE = "CC0-1.0 (dlib 5-point shape predictor by Davis King; package MIT)"
HOG_LICENCE = "BSL-1.0 (dlib's frontal face detector, built into dlib)"


def predictor_path() -> Path:
    """The 5-point predictor shipped beside dlib's face ResNet (found without importing the package)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package face_recognition_models is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE


class ShapePredictorModule(tf.Module):
    """An RGB image and face rectangles in, 5 landmarks per rectangle out, as dlib computes them.

    Every step reproduces dlib's arithmetic, because a feature pixel lands on one side or the other of
    a pixel boundary by a hair and then sends a tree down another branch (measured on the 24 faces of
    ../shared/data: summing a level's 500 leaf increments pairwise instead of one after another in
    float32 changed the landmarks of 4 faces by a pixel; sequential sums match all 24 exactly):
    grey is the integer mean of R, G and B; the similarity transform from the mean shape to the current
    one is found in float64 and applied in float32; feature pixels are mapped to the image in float64
    and rounded half up; pixels outside the image read 0; leaf increments are added in tree order."""

    def __init__(self, predictor: ShapePredictor, hog: HogDetectorFile) -> None:
        super().__init__(name=NAME)
        self.hog_filters = tf.constant(hog.filters)
        self.hog_thresholds = tf.constant(hog.thresholds)
        self.hog_config = tf.constant(hog.config)
        self.hog_overlap = tf.constant(hog.overlap)
        self.levels = predictor.levels
        self.trees = predictor.trees
        self.depth = predictor.depth
        self.splits = 2**predictor.depth - 1
        self.landmarks = predictor.landmarks
        mean = predictor.mean_shape.astype(np.float64)
        centred = mean - mean.mean(axis=0)
        self.mean_shape = tf.constant(predictor.mean_shape)
        self.mean_centred = tf.constant(centred)
        self.mean_spread = tf.constant(float((centred**2).sum()), tf.float64)
        # Per level, flattened so that (tree, node) and (tree, leaf) become one gather index.
        self.split_first = [tf.constant(a.reshape(-1)) for a in predictor.split_first]
        self.split_second = [tf.constant(a.reshape(-1)) for a in predictor.split_second]
        self.split_threshold = [tf.constant(a.reshape(-1)) for a in predictor.split_threshold]
        self.leaf_increments = [
            tf.constant(a.reshape(-1, 2 * predictor.landmarks)) for a in predictor.leaf_increments
        ]
        self.anchors = [tf.constant(a) for a in predictor.anchors]
        self.offsets = [tf.constant(a) for a in predictor.offsets]
        self.tree_offsets = tf.range(self.trees, dtype=tf.int32)

    def _mean_to_current(self, shape: tf.Tensor) -> tf.Tensor:
        """Rotation and scale [N, 2, 2] (float32) of the least-squares similarity mean shape -> shape.

        In 2-D the best similarity without reflection is the complex ratio sum(conj(a) b) / sum(|a|^2)
        of the centred point sets: the same transform dlib's SVD finds."""
        current = tf.cast(shape, tf.float64)
        centred = current - tf.reduce_mean(current, axis=1, keepdims=True)
        ax, ay = self.mean_centred[None, :, 0], self.mean_centred[None, :, 1]
        bx, by = centred[:, :, 0], centred[:, :, 1]
        cosine = tf.reduce_sum(ax * bx + ay * by, axis=1) / self.mean_spread
        sine = tf.reduce_sum(ax * by - ay * bx, axis=1) / self.mean_spread
        matrix = tf.stack([tf.stack([cosine, -sine], axis=1), tf.stack([sine, cosine], axis=1)], axis=1)
        return tf.cast(matrix, tf.float32)

    def _feature_pixels(
        self, image: tf.Tensor, shape: tf.Tensor, origin: tf.Tensor, extent: tf.Tensor, level: int
    ) -> tf.Tensor:
        """Grey values [N, P] (float32, dlib's integer mean of R, G, B) at this level's feature pixels."""
        matrix = self._mean_to_current(shape)
        offsets = self.offsets[level]
        anchored = tf.gather(shape, self.anchors[level], axis=1)
        # Two products and a sum in float32, then the anchor: the order dlib's 2x2 product takes.
        x = (
            matrix[:, None, 0, 0] * offsets[None, :, 0] + matrix[:, None, 0, 1] * offsets[None, :, 1]
        ) + anchored[:, :, 0]
        y = (
            matrix[:, None, 1, 0] * offsets[None, :, 0] + matrix[:, None, 1, 1] * offsets[None, :, 1]
        ) + anchored[:, :, 1]
        points = tf.stack([x, y], axis=2)
        pixels = tf.cast(tf.floor(_to_image(points, origin, extent) + 0.5), tf.int64)
        height, width = tf.shape(image, out_type=tf.int64)[0], tf.shape(image, out_type=tf.int64)[1]
        px, py = pixels[:, :, 0], pixels[:, :, 1]
        inside = (px >= 0) & (px < width) & (py >= 0) & (py < height)
        flat = tf.where(inside, py * width + px, tf.zeros_like(px))
        # Grey only where it is read: converting a whole 1080p frame cost more than the trees.
        rgb = tf.gather(tf.reshape(image, [-1, 3]), flat)
        values = tf.cast(tf.reduce_sum(tf.cast(rgb, tf.int32), axis=2) // 3, tf.float32)
        return tf.where(inside, values, tf.zeros_like(values))

    def _level(
        self, image: tf.Tensor, shape: tf.Tensor, origin: tf.Tensor, extent: tf.Tensor, level: int
    ) -> tf.Tensor:
        """The shape after one cascade level: every tree walked, its leaf increments added in order."""
        values = self._feature_pixels(image, shape, origin, extent, level)
        faces = tf.shape(shape)[0]
        node = tf.zeros([faces, self.trees], tf.int32)
        base = self.tree_offsets[None, :] * self.splits
        for _ in range(self.depth):
            index = base + node
            first = tf.gather(values, tf.gather(self.split_first[level], index), batch_dims=1)
            second = tf.gather(values, tf.gather(self.split_second[level], index), batch_dims=1)
            left = first - second > tf.gather(self.split_threshold[level], index)
            node = tf.where(left, 2 * node + 1, 2 * node + 2)
        leaf = self.tree_offsets[None, :] * (self.splits + 1) + node - self.splits
        increments = tf.gather(self.leaf_increments[level], leaf)  # [N, T, 2K]
        flat = tf.reshape(shape, [faces, 1, 2 * self.landmarks])
        # cumsum adds along the tree axis one term after another, as dlib's loop does.
        total = tf.math.cumsum(tf.concat([flat, increments], axis=1), axis=1)[:, -1]
        return tf.reshape(total, [faces, self.landmarks, 2])

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, 3], tf.uint8, name="image"),
            tf.TensorSpec([None, 4], tf.float32, name="boxes"),
        ]
    )
    def serve(self, image: tf.Tensor, boxes: tf.Tensor) -> dict[str, tf.Tensor]:
        corners = tf.cast(boxes, tf.float64)
        origin, extent = corners[:, :2], corners[:, 2:] - corners[:, :2]
        faces = tf.shape(boxes)[0]
        shape = tf.tile(self.mean_shape[None], [faces, 1, 1])
        for level in range(self.levels):
            shape = self._level(image, shape, origin, extent, level)
        points = _to_image(shape, origin, extent)
        return {
            "landmarks": tf.cast(tf.floor(points + 0.5), tf.float32),
            "landmarks_subpixel": tf.cast(points, tf.float32),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="detectors")])
    def hog_detector(self, detectors: tf.Tensor) -> dict[str, tf.Tensor]:
        """The `hog_detector` signature: dlib's frontal face detector whose boxes the predictor was made
        to start from, for the HOG box search near our detections (amyplant_faces.pipeline.hog_search)."""
        count = tf.shape(self.hog_thresholds, out_type=tf.int32)[0]
        chosen = tf.cond(tf.size(detectors) > 0, lambda: detectors, lambda: tf.range(count))
        return {
            "filters": tf.gather(self.hog_filters, chosen),
            "thresholds": tf.gather(self.hog_thresholds, chosen),
            "config": self.hog_config,
            "overlap": self.hog_overlap,
        }


def _to_image(points: tf.Tensor, origin: tf.Tensor, extent: tf.Tensor) -> tf.Tensor:
    """Normalised box coordinates [N, P, 2] (float32) -> image pixels (float64), as dlib's float64 map."""
    return tf.cast(points, tf.float64) * extent[:, None, :] + origin[:, None, :]


def signature() -> dict[str, Any]:
    return {
        "inputs": {
            "image": {"dtype": "uint8", "shape": [None, None, 3], "meaning": "one RGB image, any size"},
            "boxes": {
                "dtype": "float32",
                "shape": [None, 4],
                "meaning": "left, top, right, bottom of each face in dlib's rectangle convention "
                "(right = left + width - 1), where the predictor starts from its mean shape",
            },
        },
        "outputs": {
            "landmarks": {
                "dtype": "float32",
                "shape": [None, 5, 2],
                "meaning": "x, y in input pixels rounded as dlib rounds them: the outer and inner corner "
                "of the image-right eye, the outer and inner corner of the image-left eye, below the nose",
            },
            "landmarks_subpixel": {
                "dtype": "float32",
                "shape": [None, 5, 2],
                "meaning": "the same points before rounding",
            },
        },
        "notes": "dlib's shape_predictor_5_face_landmarks: 15 cascade levels of 500 depth-4 trees over 800 "
        "feature pixels, evaluated exactly as dlib does (see ShapePredictorModule).",
        "signatures": {
            "hog_detector": {
                "inputs": {"detectors": "int32 [D]: which filters to return; empty: all"},
                "outputs": {
                    "filters": "float64 [D, 31, 10, 10]: dlib's frontal face detector's fHOG filters",
                    "thresholds": "float64 [D]: the score each filter's window must reach",
                    "config": "int64 [7]: " + ", ".join(CONFIG_FIELDS),
                    "overlap": "float64 [2]: its non-maximum suppression's overlap and covered fractions",
                },
            }
        },
    }


def build(progress: Callable[[str], None] | None = None) -> BuiltModel:
    """Read the package's predictor and express its cascade as one tf.function."""
    say = progress or (lambda _message: None)
    path = predictor_path()
    say(f"reading {PREDICTOR_FILE}")
    predictor = read_shape_predictor(path)
    say("saving dlib's frontal face detector")
    hog_bytes, dlib_version = saved_frontal_detector()
    hog = read_hog_detector(hog_bytes, source=SAVED_NAME)
    module = ShapePredictorModule(predictor, hog)
    say("tracing the serving functions")
    module.serve.get_concrete_function()
    module.hog_detector.get_concrete_function()
    source = WeightSource.from_file(
        package=PACKAGE_DIST, version=importlib.metadata.version(PACKAGE_DIST), path=path, licence=LICENCE
    )
    hog_source = WeightSource(
        package=HOG_PACKAGE,
        version=dlib_version,
        file=SAVED_NAME,
        sha256=sha256(hog_bytes),
        licence=HOG_LICENCE,
    )
    figures = {
        "cascade_levels": predictor.levels,
        "trees_per_level": predictor.trees,
        "tree_depth": predictor.depth,
        "feature_pixels": predictor.feature_pixels,
    }
    figures["hog_filters"] = int(hog.filters.shape[0])
    return BuiltModel(
        name=NAME,
        module=module,
        signature=signature(),
        sources=[source, hog_source],
        figures=figures,
        signatures={"hog_detector": "hog_detector"},
    )


def check(
    serve: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], data_dir: Path | None
) -> dict[str, Any]:
    """Landmarks of the saved model against dlib's own shape predictor on the same rectangles."""
    from amyplant_modelbuild.builders import landmarks_check  # imported here: only checks need dlib

    return landmarks_check.run(serve, data_dir, predictor_path())
