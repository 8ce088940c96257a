"""Face embedder: dlib's ResNet face descriptor (128-D), rebuilt in TensorFlow from dlib's own file."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from amyplant_faces.models.spec import BuiltModel, WeightSource
from amyplant_modelbuild.builders.dlib_format import DlibNetwork, Layer, read_network_file

PACKAGE = "face_recognition_models"
PACKAGE_DIST = "face-recognition-models"
WEIGHTS_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LICENCE = "CC0-1.0 (dlib face recognition model by Davis King; package MIT)"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
EMBEDDING_SIZE = 128
SAME_PERSON_DISTANCE = 0.6
# dlib's input layer divides (pixel - channel mean) by this.
INPUT_SCALE = 256.0
# Residual blocks of dlib's anet_type (examples/dnn_face_recognition_ex.cpp), from the input outward:
# (filters, whether the block halves the spatial size).
RESIDUAL_BLOCKS: tuple[tuple[int, bool], ...] = (
    ((32, False),) * 3
    + ((64, True),)
    + ((64, False),) * 3
    + ((128, True),)
    + ((128, False),) * 2
    + ((256, True),)
    + ((256, False),) * 2
    + ((256, True),)
)
STEM = ("con", "affine", "relu", "max_pool")
BLOCK = ("con", "affine", "relu", "con", "affine")
HEAD = ("avg_pool", "fc")


def package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {PACKAGE!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def weights_path() -> Path:
    return package_dir() / "models" / WEIGHTS_FILE


def expected_wiring() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Layer kinds (input outward) and tag/skip positions that anet_type serialises to."""
    kinds, marks = list(STEM), []
    for _filters, down in RESIDUAL_BLOCKS:
        start = len(kinds)
        kinds += [*BLOCK, *(["avg_pool"] if down else []), "add_prev", "relu"]
        # tag1 below the block; a down-sampling block adds tag2 above it and skip1 back to tag1.
        marks += [start, start + len(BLOCK), start + len(BLOCK)] if down else [start]
    return (*kinds, *HEAD), tuple(marks)


def validate(network: DlibNetwork) -> None:
    """Refuse a file whose layers are not exactly dlib's face descriptor network."""
    kinds, marks = expected_wiring()
    found = tuple(layer.kind for layer in network.layers)
    if found != kinds or network.tag_or_skip_after != marks:
        raise ValueError(
            f"not dlib's face descriptor network: layers {found}, tags {network.tag_or_skip_after}"
        )
    settings = network.input.settings
    if (settings.get("rows"), settings.get("cols")) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError(f"expected a {CHIP_SIZE}x{CHIP_SIZE} input layer, found {dict(settings)}")
    for layer in network.layers:
        if layer.settings.get("disabled"):
            raise ValueError(f"disabled {layer.kind} layers are not supported")
        if layer.kind in ("max_pool", "avg_pool") and (
            layer.settings["padding_y"] or layer.settings["padding_x"]
        ):
            raise ValueError(f"padded {layer.kind} is not supported: {dict(layer.settings)}")
        if layer.kind == "affine" and layer.settings["mode"] != 0:
            raise ValueError("only per-channel affine layers are supported")
    if "biases" in network.layers[-1].arrays:
        raise ValueError("expected a fully-connected layer without bias")


def _channels(array: np.ndarray) -> np.ndarray:
    """A dlib (1, K, 1, 1) per-channel vector as (K,)."""
    return np.ascontiguousarray(array.reshape(-1), dtype=np.float32)


def _constant(value: np.ndarray, name: str) -> tf.Variable:
    return tf.Variable(value, trainable=False, name=name)


class Conv(tf.Module):
    """dlib con_: cross-correlation with the file's strides and symmetric zero padding, plus bias."""

    def __init__(self, layer: Layer, name: str) -> None:
        super().__init__(name=name)
        s = layer.settings
        # dlib filters are (out, in, rows, cols); TensorFlow wants (rows, cols, in, out).
        self.kernel = _constant(np.ascontiguousarray(layer.arrays["filters"].transpose(2, 3, 1, 0)), "kernel")
        self.bias = _constant(_channels(layer.arrays["biases"]), "bias")
        self.strides = [1, int(s["stride_y"]), int(s["stride_x"]), 1]
        py, px = int(s["padding_y"]), int(s["padding_x"])
        self.padding: Any = "VALID" if py == px == 0 else [[0, 0], [py, py], [px, px], [0, 0]]

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.bias_add(tf.nn.conv2d(x, self.kernel, self.strides, self.padding), self.bias)


class Affine(tf.Module):
    """dlib affine_ (batch norm folded at training's end): x * gamma + beta per channel."""

    def __init__(self, layer: Layer, name: str) -> None:
        super().__init__(name=name)
        self.gamma = _constant(_channels(layer.arrays["gamma"]), "gamma")
        self.beta = _constant(_channels(layer.arrays["beta"]), "beta")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return x * self.gamma + self.beta


def pool(layer: Layer, x: tf.Tensor) -> tf.Tensor:
    """dlib max_pool_/avg_pool_ without padding; a 0x0 window averages everything."""
    s = layer.settings
    if layer.kind == "avg_pool" and s["rows"] == 0 and s["cols"] == 0:
        return tf.reduce_mean(x, axis=[1, 2])
    window = [int(s["rows"]), int(s["cols"])]
    strides = [int(s["stride_y"]), int(s["stride_x"])]
    op = tf.nn.max_pool2d if layer.kind == "max_pool" else tf.nn.avg_pool2d
    return op(x, window, strides, "VALID")


def add_prev(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """dlib add_prev_: a smaller operand counts as zero beyond its rows, columns and channels."""
    target = [max(p, q) for p, q in zip(a.shape[1:], b.shape[1:], strict=True)]

    def fill(t: tf.Tensor) -> tf.Tensor:
        extra = [[0, 0]] + [[0, want - have] for want, have in zip(target, t.shape[1:], strict=True)]
        return tf.pad(t, extra) if any(after for _, after in extra) else t

    return fill(a) + fill(b)


class Block(tf.Module):
    """One residual block: relu(add_prev(shortcut, affine(con(relu(affine(con(x))))))))."""

    def __init__(self, layers: Sequence[Layer], name: str) -> None:
        super().__init__(name=name)
        self.conv1, self.affine1 = Conv(layers[0], "conv1"), Affine(layers[1], "affine1")
        self.conv2, self.affine2 = Conv(layers[3], "conv2"), Affine(layers[4], "affine2")
        self.shortcut_pool = layers[5] if layers[5].kind == "avg_pool" else None

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        y = self.affine2(self.conv2(tf.nn.relu(self.affine1(self.conv1(x)))))
        shortcut = x if self.shortcut_pool is None else pool(self.shortcut_pool, x)
        return tf.nn.relu(add_prev(y, shortcut))


class FaceDescriptorNet(tf.Module):
    """dlib's anet_type on normalised NHWC float input [N, 150, 150, 3] -> raw descriptors [N, 128]."""

    def __init__(self, network: DlibNetwork, name: str | None = None) -> None:
        super().__init__(name=name)
        validate(network)
        layers = iter(network.layers)
        self.stem_conv = Conv(next(layers), "stem_conv")
        self.stem_affine = Affine(next(layers), "stem_affine")
        next(layers)  # relu
        self.stem_pool = next(layers)
        self.blocks = [
            Block(_take_block(layers, down), f"block{i}") for i, (_, down) in enumerate(RESIDUAL_BLOCKS)
        ]
        self.head_pool = next(layers)
        # dlib's fully-connected weights are (inputs, outputs): y = x W.
        self.projection = _constant(next(layers).arrays["weights"].reshape(-1, EMBEDDING_SIZE), "projection")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        x = pool(self.stem_pool, tf.nn.relu(self.stem_affine(self.stem_conv(x))))
        for block in self.blocks:
            x = block(x)
        return tf.matmul(pool(self.head_pool, x), self.projection)


def _take_block(layers: Iterator[Layer], down: bool) -> list[Layer]:
    return [next(layers) for _ in range(len(BLOCK) + (3 if down else 2))]


class FaceEmbedderModule(tf.Module):
    """Aligned 150x150 RGB chips in, dlib face descriptors out."""

    def __init__(self, network: DlibNetwork) -> None:
        super().__init__(name="face_embedder")
        s = network.input.settings
        means = np.array([s["avg_red"], s["avg_green"], s["avg_blue"]], dtype=np.float32)
        self.channel_means = _constant(means, "channel_means")
        self.net = FaceDescriptorNet(network, name="resnet")

    @tf.function(input_signature=[tf.TensorSpec([None, CHIP_SIZE, CHIP_SIZE, 3], tf.uint8, name="chips")])
    def serve(self, chips: tf.Tensor) -> dict[str, tf.Tensor]:
        normalised = (tf.cast(chips, tf.float32) - self.channel_means) / INPUT_SCALE
        return {"embeddings": self.net(normalised)}


def signature() -> dict[str, Any]:
    return {
        "inputs": {
            "chips": {
                "dtype": "uint8",
                "shape": [None, CHIP_SIZE, CHIP_SIZE, 3],
                "meaning": f"RGB face chips aligned like dlib.get_face_chip(size={CHIP_SIZE}, "
                f"padding={CHIP_PADDING}) with the 5-point shape predictor",
            }
        },
        "outputs": {
            "embeddings": {
                "dtype": "float32",
                "shape": [None, EMBEDDING_SIZE],
                "meaning": "raw dlib face descriptors (not L2-normalised); Euclidean distance "
                f"< {SAME_PERSON_DISTANCE} means the same person",
            }
        },
        "notes": "Channel-mean subtraction and /256 happen inside the graph, as in dlib's input layer.",
    }


def build(progress: Callable[[str], None] | None = None) -> BuiltModel:
    """Read dlib's face descriptor file and rebuild the network as a servable tf.Module."""
    say = progress or (lambda _message: None)
    path = weights_path()
    say(f"reading {WEIGHTS_FILE}")
    network = read_network_file(path)
    module = FaceEmbedderModule(network)
    say("tracing the serving function")
    module.serve.get_concrete_function()
    source = WeightSource.from_file(
        package=PACKAGE_DIST, version=importlib.metadata.version(PACKAGE_DIST), path=path, licence=LICENCE
    )
    figures = {
        "parameters": network.parameter_count(),
        "layers": len(network.layers),
        "loss": dict(network.loss.settings),
        "channel_means": [float(network.input.settings[k]) for k in ("avg_red", "avg_green", "avg_blue")],
    }
    return BuiltModel(
        name="face_embedder",
        module=module,
        signature=signature(),
        sources=[source],
        figures=figures,
        batch_requests=True,
    )


def check(
    serve: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], data_dir: Path | None
) -> dict[str, Any]:
    """Parity with dlib's compute_face_descriptor on the same chips (see embedder_check)."""
    from amyplant_modelbuild.builders import embedder_check

    return embedder_check.run(serve, data_dir)
