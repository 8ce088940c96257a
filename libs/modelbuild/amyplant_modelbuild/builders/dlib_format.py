"""Reads a DNN saved by dlib's serialize() (e.g. the face descriptor ResNet) into numpy arrays."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# dlib writes +inf, -inf and NaN as these reserved exponents of its (mantissa, exponent) floats.
FLOAT_SPECIALS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
MAX_INTEGER_BYTES = 8
MAX_NAME_LENGTH = 256
TENSOR_VERSION = 2
VIEW_VERSION = 1
ORDINARY_WRAPPER_VERSIONS = (2,)  # add_layer over another layer
TAG_OR_SKIP_VERSION = 1  # add_tag_layer and add_skip_layer write the same record
INPUT_WRAPPER_VERSIONS = (2, 3)  # add_layer directly over the input layer
LOSS_WRAPPER_VERSION = 1

Setting = int | float | bool


class DlibFormatError(ValueError):
    """The bytes are not a dlib network this reader understands (truncated, malformed or unknown)."""


class DlibStream:
    """dlib's primitive encodings (integers, floats, strings, tensors), read from an in-memory buffer."""

    def __init__(self, data: bytes, *, source: str = "<bytes>") -> None:
        self.data = memoryview(data)
        self.source = source
        self.position = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position

    def fail(self, message: str) -> DlibFormatError:
        return DlibFormatError(f"{self.source}: byte {self.position}: {message}")

    def take(self, count: int, what: str) -> memoryview:
        if count < 0 or count > self.remaining:
            raise self.fail(f"truncated while reading {what}: needs {count} bytes, {self.remaining} left")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def integer(self, what: str) -> int:
        """Control byte (0x80: negative, low 4 bits: byte count), then the magnitude, little-endian."""
        control = self.take(1, what)[0]
        size = control & 0x0F
        if control & 0x70 or size > MAX_INTEGER_BYTES:
            raise self.fail(f"bad integer control byte 0x{control:02x} for {what}")
        magnitude = int.from_bytes(self.take(size, what), "little")
        return -magnitude if control & 0x80 else magnitude

    def boolean(self, what: str) -> bool:
        value = bytes(self.take(1, what))
        if value not in (b"0", b"1"):
            raise self.fail(f"bad boolean {value!r} for {what}")
        return value == b"1"

    def real(self, what: str) -> float:
        """A float as two integers, mantissa and exponent (value = mantissa * 2**exponent)."""
        mantissa = self.integer(f"{what} mantissa")
        exponent = self.integer(f"{what} exponent")
        if exponent in FLOAT_SPECIALS:
            return FLOAT_SPECIALS[exponent]
        return math.ldexp(float(mantissa), exponent)

    def string(self, what: str) -> str:
        length = self.integer(f"{what} length")
        if length < 0:
            raise self.fail(f"negative string length {length} for {what}")
        return bytes(self.take(length, what)).decode("latin-1")

    def peek_name(self) -> str | None:
        """The short ASCII string at the current position, if one is there; the position is unchanged."""
        start = self.position
        try:
            length = self.integer("name length")
            if not 0 < length <= MAX_NAME_LENGTH or length > self.remaining:
                return None
            text = bytes(self.take(length, "name")).decode("latin-1")
            return text if text.isascii() and text.isprintable() else None
        except DlibFormatError:
            return None
        finally:
            self.position = start

    def version(self, what: str, allowed: tuple[int, ...]) -> int:
        value = self.integer(f"{what} version")
        if value not in allowed:
            raise self.fail(f"unexpected {what} version {value} (this reader knows {allowed})")
        return value

    def dims(self, what: str) -> tuple[int, int, int, int]:
        """Four int64 dimensions (samples, channels, rows, columns)."""
        shape = tuple(self.integer(f"{what} dimension") for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative dimension in {what}: {shape}")
        return shape[0], shape[1], shape[2], shape[3]

    def tensor(self, what: str) -> np.ndarray:
        """A resizable tensor: version 2, dims, then little-endian float32 values in NCHW order."""
        self.version(f"{what} tensor", (TENSOR_VERSION,))
        shape = self.dims(what)
        count = math.prod(shape)
        raw = self.take(4 * count, f"{what} values ({count} floats)")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def view(self, what: str) -> tuple[int, int, int, int]:
        """An alias tensor: only its shape; its numbers live in the layer's params tensor."""
        self.version(f"{what} view", (VIEW_VERSION,))
        return self.dims(what)

    def expect_end(self) -> None:
        if self.remaining:
            raise self.fail(f"{self.remaining} bytes left after the network")


@dataclass(frozen=True)
class Layer:
    """One layer's record: its kind (dlib's name without version), stored version, settings and arrays."""

    kind: str
    version: str
    settings: Mapping[str, Setting]
    arrays: Mapping[str, np.ndarray]

    def parameter_count(self) -> int:
        return sum(int(a.size) for a in self.arrays.values())


@dataclass(frozen=True)
class DlibNetwork:
    """A whole network file.

    `layers` runs from the input outward (ordinary layers only). The stream does not tell tags from
    skips, so `tag_or_skip_after[i]` says how many ordinary layers lie below the i-th such wrapper
    (counted from the input); the network definition says which is which.
    """

    loss: Layer
    input: Layer
    layers: tuple[Layer, ...]
    tag_or_skip_after: tuple[int, ...]

    def parameter_count(self) -> int:
        return sum(layer.parameter_count() for layer in self.layers)


def split_params(
    stream: DlibStream, params: np.ndarray, views: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Cut a layer's flat params tensor into its named views, in order, checking the sizes add up."""
    flat = params.reshape(-1)
    needed = sum(math.prod(shape) for shape in views.values())
    if needed != flat.size:
        raise stream.fail(f"params hold {flat.size} numbers but the views need {needed}")
    arrays, offset = {}, 0
    for name, shape in views.items():
        size = math.prod(shape)
        arrays[name] = flat[offset : offset + size].reshape(shape).copy()
        offset += size
    return arrays


def _multipliers(stream: DlibStream, names: tuple[str, ...]) -> dict[str, Setting]:
    return {name: stream.real(name) for name in names}


def _read_con(stream: DlibStream, version: str) -> Layer:
    params = stream.tensor("con params")
    settings: dict[str, Setting] = {
        key: stream.integer(key)
        for key in ("num_filters", "rows", "cols", "stride_y", "stride_x", "padding_y", "padding_x")
    }
    filters, biases = stream.view("con filters"), stream.view("con biases")
    settings |= _multipliers(stream, ("lr_mult", "decay_mult", "bias_lr_mult", "bias_decay_mult"))
    settings["use_bias"] = stream.boolean("use_bias") if version in ("con_5", "con_6") else True
    if version == "con_6":
        settings["use_relu"] = stream.boolean("use_relu")
    views = {"filters": filters, **({"biases": biases} if settings["use_bias"] else {})}
    return Layer("con", version, settings, split_params(stream, params, views))


def _read_fc(stream: DlibStream, version: str) -> Layer:
    settings: dict[str, Setting] = {
        "num_outputs": stream.integer("num_outputs"),
        "num_inputs": stream.integer("num_inputs"),
    }
    params = stream.tensor("fc params")
    weights, biases = stream.view("fc weights"), stream.view("fc biases")
    settings["bias_mode"] = stream.integer("bias_mode")  # 0: has bias, 1: no bias
    settings |= _multipliers(stream, ("lr_mult", "decay_mult", "bias_lr_mult", "bias_decay_mult"))
    settings["use_bias"] = stream.boolean("use_bias") if version == "fc_3" else True
    has_bias = settings["bias_mode"] == 0 and settings["use_bias"]
    views = {"weights": weights, **({"biases": biases} if has_bias else {})}
    return Layer("fc", version, settings, split_params(stream, params, views))


def _read_affine(stream: DlibStream, version: str) -> Layer:
    params = stream.tensor("affine params")
    gamma, beta = stream.view("affine gamma"), stream.view("affine beta")
    settings: dict[str, Setting] = {"mode": stream.integer("affine mode")}  # 0: per channel (conv), 1: fc
    settings["disabled"] = stream.boolean("disabled") if version == "affine_2" else False
    return Layer("affine", version, settings, split_params(stream, params, {"gamma": gamma, "beta": beta}))


def _read_relu(stream: DlibStream, version: str) -> Layer:
    settings: dict[str, Setting] = {"disabled": stream.boolean("disabled") if version == "relu_2" else False}
    return Layer("relu", version, settings, {})


def _read_pool(kind: str) -> Callable[[DlibStream, str], Layer]:
    def read(stream: DlibStream, version: str) -> Layer:
        keys = ("rows", "cols", "stride_y", "stride_x", "padding_y", "padding_x")
        return Layer(kind, version, {key: stream.integer(key) for key in keys}, {})

    return read


def _read_add_prev(stream: DlibStream, version: str) -> Layer:
    return Layer("add_prev", version, {}, {})


LAYER_READERS: Mapping[str, Callable[[DlibStream, str], Layer]] = {
    "con_4": _read_con,
    "con_5": _read_con,
    "con_6": _read_con,
    "fc_2": _read_fc,
    "fc_3": _read_fc,
    "affine_": _read_affine,
    "affine_2": _read_affine,
    "relu_": _read_relu,
    "relu_2": _read_relu,
    "max_pool_2": _read_pool("max_pool"),
    "avg_pool_2": _read_pool("avg_pool"),
    "add_prev_": _read_add_prev,
}


def read_layer(stream: DlibStream) -> Layer:
    version = stream.string("layer name")
    reader = LAYER_READERS.get(version)
    if reader is None:
        raise stream.fail(f"unsupported layer {version!r} (this reader knows {', '.join(LAYER_READERS)})")
    return reader(stream, version)


def read_input(stream: DlibStream) -> Layer:
    version = stream.string("input layer name")
    if version not in ("input_rgb_image", "input_rgb_image_sized"):
        raise stream.fail(f"unsupported input layer {version!r}")
    settings: dict[str, Setting] = {key: stream.real(key) for key in ("avg_red", "avg_green", "avg_blue")}
    if version == "input_rgb_image_sized":
        settings |= {"rows": stream.integer("rows"), "cols": stream.integer("cols")}
    return Layer(version, version, settings, {})


def read_loss(stream: DlibStream) -> Layer:
    version = stream.string("loss layer name")
    if version == "loss_metric_2":
        settings: dict[str, Setting] = {
            "margin": stream.real("margin"),
            "distance_threshold": stream.real("threshold"),
        }
    elif version == "loss_metric_":
        settings = {"margin": 0.1, "distance_threshold": 0.75}  # older files hard-coded these
    else:
        raise stream.fail(f"unsupported loss layer {version!r}")
    return Layer("loss_metric", version, settings, {})


def _skip_layer_state(stream: DlibStream, wrapper_version: int, *, on_input: bool) -> None:
    """Training state stored after each layer's details: 3 flags, 3 tensors, and on the input a count."""
    for flag in ("setup_called", "gradient_input_is_stale", "output_disabled"):
        stream.boolean(flag)
    for name in ("x_grad", "cached_output", "grad_final" if on_input else "params_grad"):
        stream.tensor(name)
    if on_input and wrapper_version == 3:
        stream.integer("sample_expansion_factor")


def read_network(stream: DlibStream) -> DlibNetwork:
    """Parse a whole network (loss layer outermost) and check that the stream ends right after it."""
    stream.version("loss wrapper", (LOSS_WRAPPER_VERSION,))
    loss = read_loss(stream)
    # Wrappers are nested, so their versions come first, from the outside in, down to the input.
    wrappers: list[int] = []
    while not (stream.peek_name() or "").startswith("input"):
        wrappers.append(stream.version("layer wrapper", (TAG_OR_SKIP_VERSION, *ORDINARY_WRAPPER_VERSIONS, 3)))
    if not wrappers or wrappers[-1] not in INPUT_WRAPPER_VERSIONS:
        raise stream.fail(f"the layer on the input has wrapper version {wrappers[-1:]}, expected 2 or 3")
    input_version = wrappers.pop()
    input_layer = read_input(stream)
    layers = [read_layer(stream)]
    _skip_layer_state(stream, input_version, on_input=True)
    tag_or_skip_after: list[int] = []
    for version in reversed(wrappers):
        if version == TAG_OR_SKIP_VERSION:
            tag_or_skip_after.append(len(layers))
        elif version in ORDINARY_WRAPPER_VERSIONS:
            layers.append(read_layer(stream))
            _skip_layer_state(stream, version, on_input=False)
        else:
            raise stream.fail(f"wrapper version {version} above the input layer")
    stream.expect_end()
    return DlibNetwork(loss, input_layer, tuple(layers), tuple(tag_or_skip_after))


def read_network_file(path: Path) -> DlibNetwork:
    return read_network(DlibStream(path.read_bytes(), source=str(path)))
