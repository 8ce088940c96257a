"""Reads dlib's serialized shape predictor (a cascade of regression-tree forests) into numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amyplant_modelbuild.builders.dlib_format import DlibFormatError, DlibStream

# Record layout, read off the 5-point file of face-recognition-models (the parse ends exactly at its last
# byte): version; the mean shape; the forests, one per cascade level, each a list of trees (splits in
# breadth-first order, then the leaves' shape increments); per level the landmark each feature pixel is
# anchored to; per level each feature pixel's offset from its anchor in the mean shape's frame.
SHAPE_PREDICTOR_VERSION = 1


@dataclass(frozen=True)
class ShapePredictor:
    """A cascade of L levels, each T trees of depth D over P feature pixels, predicting K landmarks.

    Shapes are in the detection box's normalised frame: (0, 0) its top-left and (1, 1) its bottom-right
    corner. A tree's split i sends a face to child 2i+1 when pixel[first] - pixel[second] > threshold,
    else to 2i+2; the leaf reached adds its increment (learning rate already applied) to the shape."""

    mean_shape: np.ndarray  # float32 [K, 2]
    split_first: np.ndarray  # int32 [L, T, 2**D - 1]
    split_second: np.ndarray  # int32 [L, T, 2**D - 1]
    split_threshold: np.ndarray  # float32 [L, T, 2**D - 1]
    leaf_increments: np.ndarray  # float32 [L, T, 2**D, K, 2]
    anchors: np.ndarray  # int32 [L, P]: the landmark each feature pixel follows
    offsets: np.ndarray  # float32 [L, P, 2]: the pixel's offset from it, in the mean shape's frame

    @property
    def levels(self) -> int:
        return int(self.split_first.shape[0])

    @property
    def trees(self) -> int:
        return int(self.split_first.shape[1])

    @property
    def depth(self) -> int:
        return int(self.split_first.shape[2] + 1).bit_length() - 1

    @property
    def landmarks(self) -> int:
        return int(self.mean_shape.shape[0])

    @property
    def feature_pixels(self) -> int:
        return int(self.anchors.shape[1])


def read_shape_predictor(path: Path) -> ShapePredictor:
    """Parse a shape predictor file; any truncation, excess or inconsistency is a DlibFormatError."""
    stream = DlibStream(path.read_bytes(), source=str(path))
    stream.version("shape predictor", (SHAPE_PREDICTOR_VERSION,))
    mean_shape = _column(stream, "mean shape")
    if len(mean_shape) % 2:
        raise stream.fail(f"the mean shape has an odd length {len(mean_shape)}")
    landmarks = len(mean_shape) // 2
    forests = [_forest(stream, level, landmarks) for level in range(_count(stream, "cascade levels"))]
    anchors = [_anchor_list(stream, level, landmarks) for level in range(_count(stream, "anchor lists"))]
    offsets = [_offset_list(stream, level) for level in range(_count(stream, "offset lists"))]
    if stream.remaining:
        raise stream.fail(f"{stream.remaining} bytes left after the shape predictor")
    if not forests or len(anchors) != len(forests) or len(offsets) != len(forests):
        raise stream.fail(f"{len(forests)} levels but {len(anchors)} anchor and {len(offsets)} offset lists")
    _check_uniform(stream, forests, anchors, offsets)
    return ShapePredictor(
        mean_shape=mean_shape.reshape(landmarks, 2),
        split_first=np.stack([np.stack([t[0] for t in level]) for level in forests]),
        split_second=np.stack([np.stack([t[1] for t in level]) for level in forests]),
        split_threshold=np.stack([np.stack([t[2] for t in level]) for level in forests]),
        leaf_increments=np.stack([np.stack([t[3] for t in level]) for level in forests]),
        anchors=np.stack(anchors),
        offsets=np.stack(offsets),
    )


Tree = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _count(stream: DlibStream, what: str) -> int:
    value = stream.integer(what)
    if value < 0:
        raise stream.fail(f"negative count {value} of {what}")
    return value


def _column(stream: DlibStream, what: str) -> np.ndarray:
    """A column vector; dlib writes its dimensions negated (its newer matrix format)."""
    rows, columns = abs(stream.integer(f"{what} rows")), abs(stream.integer(f"{what} columns"))
    if columns != 1:
        raise stream.fail(f"{what} is {rows}x{columns}, not a column vector")
    return np.asarray([stream.real(what) for _ in range(rows)], dtype=np.float32)


def _forest(stream: DlibStream, level: int, landmarks: int) -> list[Tree]:
    return [
        _tree(stream, f"level {level} tree {index}", landmarks) for index in range(_count(stream, "trees"))
    ]


def _tree(stream: DlibStream, what: str, landmarks: int) -> Tree:
    splits = _count(stream, f"{what} splits")
    first, second, threshold = (
        np.zeros(splits, np.int32),
        np.zeros(splits, np.int32),
        np.zeros(splits, np.float32),
    )
    for index in range(splits):
        first[index] = stream.integer(f"{what} split {index} first pixel")
        second[index] = stream.integer(f"{what} split {index} second pixel")
        threshold[index] = stream.real(f"{what} split {index} threshold")
    leaves = _count(stream, f"{what} leaves")
    if leaves != splits + 1:
        raise stream.fail(f"{what} has {splits} splits but {leaves} leaves (a full tree has one more)")
    increments = np.stack([_column(stream, f"{what} leaf") for _ in range(leaves)])
    if increments.shape[1] != 2 * landmarks:
        raise stream.fail(f"{what}'s leaves move {increments.shape[1]} numbers, not {2 * landmarks}")
    return first, second, threshold, increments.reshape(leaves, landmarks, 2)


def _anchor_list(stream: DlibStream, level: int, landmarks: int) -> np.ndarray:
    anchors = np.asarray([stream.integer("anchor") for _ in range(_count(stream, "anchors"))], np.int32)
    if anchors.size and (anchors.min() < 0 or anchors.max() >= landmarks):
        raise stream.fail(f"level {level} anchors a pixel to a landmark outside 0..{landmarks - 1}")
    return anchors


def _offset_list(stream: DlibStream, level: int) -> np.ndarray:
    count = _count(stream, f"level {level} offsets")
    return np.asarray([(stream.real("offset x"), stream.real("offset y")) for _ in range(count)], np.float32)


def _check_uniform(
    stream: DlibStream, forests: list[list[Tree]], anchors: list[np.ndarray], offsets: list[np.ndarray]
) -> None:
    """Every level must have the same number of trees, tree depth and feature pixels (our graph is dense)."""
    trees = {len(level) for level in forests}
    splits = {len(tree[0]) for level in forests for tree in level}
    pixels = {len(a) for a in anchors} | {len(o) for o in offsets}
    if len(trees) != 1 or len(splits) != 1 or len(pixels) != 1:
        raise stream.fail(f"uneven cascade: trees {trees}, splits {splits}, feature pixels {pixels}")
    (split_count,) = splits
    if split_count < 1 or (split_count + 1) & split_count:
        raise stream.fail(f"trees with {split_count} splits are not full binary trees")
    (pixel_count,) = pixels
    for level, tree in ((level, tree) for level, trees_ in enumerate(forests) for tree in trees_):
        if max(tree[0].max(), tree[1].max()) >= pixel_count or min(tree[0].min(), tree[1].min()) < 0:
            raise stream.fail(f"a level {level} split reads a feature pixel outside 0..{pixel_count - 1}")


__all__ = ["DlibFormatError", "ShapePredictor", "read_shape_predictor"]
