"""Read a float TFLite model's operators, options and weights, and run them as TensorFlow ops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils

# TFLite tensor type codes (schema TensorType) that this reader understands.
_NUMPY_TYPES = {0: np.float32, 1: np.float16, 2: np.int32}
# TFLite Padding enum and ActivationFunctionType enum values.
_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATIONS = {0: None, 1: tf.nn.relu, 3: tf.nn.relu6}
SUPPORTED_OPS = frozenset(
    {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RELU", "PAD", "MAX_POOL_2D", "RESIZE_BILINEAR", "RESHAPE"}
)


@dataclass(frozen=True)
class TfliteOp:
    """One operator: its builtin name, tensor indices and options (as a plain dict)."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]
    # Static shape of the first input in the .tflite (resizes keep their factor at other input sizes).
    input_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class TfliteGraph:
    """The first subgraph of a model, with every constant tensor already in float32 or int32."""

    ops: tuple[TfliteOp, ...]
    constants: dict[int, np.ndarray]
    tensor_names: dict[int, str]
    input_index: int
    input_shape: tuple[int, ...]
    output_indices: tuple[int, ...]

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.tensor_names[i] for i in self.output_indices)

    def parameter_count(self) -> int:
        return int(sum(v.size for v in self.constants.values() if v.dtype == np.float32))


def _options_dict(op: Any) -> dict[str, Any]:
    options = op.builtinOptions
    return {} if options is None else dict(vars(options))


def _buffer_array(model: Any, tensor: Any) -> np.ndarray | None:
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    dtype = _NUMPY_TYPES.get(tensor.type)
    if dtype is None:
        raise ValueError(f"tensor {tensor.name!r} has unsupported type code {tensor.type}")
    raw = np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=dtype)
    return raw.reshape(tuple(int(d) for d in tensor.shape))


def read_tflite(path: Path) -> TfliteGraph:
    """Parse a .tflite file; DEQUANTIZE ops on constant float16 weights are folded into float32 constants."""
    model = flatbuffer_utils.read_model(str(path))
    if len(model.subgraphs) != 1:
        raise ValueError(f"{path.name}: expected one subgraph, found {len(model.subgraphs)}")
    graph = model.subgraphs[0]
    names = {i: t.name.decode() for i, t in enumerate(graph.tensors)}
    constants: dict[int, np.ndarray] = {}
    for index, tensor in enumerate(graph.tensors):
        value = _buffer_array(model, tensor)
        if value is not None:
            constants[index] = value
    ops: list[TfliteOp] = []
    for op in graph.operators:
        kind = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        inputs = tuple(int(i) for i in op.inputs)
        outputs = tuple(int(i) for i in op.outputs)
        if kind == "DEQUANTIZE" and inputs[0] in constants:
            # Weights are stored as float16; the interpreter widens them once, so do it here.
            constants[outputs[0]] = constants[inputs[0]].astype(np.float32)
            continue
        if kind not in SUPPORTED_OPS:
            raise ValueError(f"{path.name}: operator {kind} is not supported by this reader")
        shape = tuple(int(d) for d in graph.tensors[inputs[0]].shape)
        ops.append(TfliteOp(kind, inputs, outputs, _options_dict(op), shape))
    # Raw float16 buffers are no longer needed once their DEQUANTIZE outputs exist.
    float16 = [i for i, v in constants.items() if v.dtype == np.float16]
    for i in float16:
        del constants[i]
    input_index = int(graph.inputs[0])
    return TfliteGraph(
        ops=tuple(ops),
        constants=constants,
        tensor_names=names,
        input_index=input_index,
        input_shape=tuple(int(d) for d in graph.tensors[input_index].shape),
        output_indices=tuple(int(i) for i in graph.outputs),
    )


def _activation(options: dict[str, Any], x: tf.Tensor) -> tf.Tensor:
    code = options.get("fusedActivationFunction", 0)
    if code not in _ACTIVATIONS:
        raise ValueError(f"fused activation {code} is not supported")
    function = _ACTIVATIONS[code]
    return x if function is None else function(x)


class TfliteNetwork(tf.Module):
    """Runs a TfliteGraph with TensorFlow ops; float weights become variables of this module."""

    def __init__(self, graph: TfliteGraph, name: str | None = None) -> None:
        super().__init__(name=name)
        self._ops = graph.ops
        self._input_index = graph.input_index
        self._output_indices = graph.output_indices
        self._output_names = graph.output_names
        self._tensor_names = dict(graph.tensor_names)
        # Shape/size operands (int32) stay as numpy; float weights are stored as variables.
        self._ints = {i: v for i, v in graph.constants.items() if v.dtype == np.int32}
        # String keys: tf.Module only tracks (and so saves) variables in string-keyed dicts.
        self._weights = {
            str(i): tf.Variable(tf_layout(graph, i, v), trainable=False, name=variable_name(graph, i))
            for i, v in graph.constants.items()
            if v.dtype == np.float32
        }

    def __call__(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        values = run_ops(self._ops, {self._input_index: x}, self._weights, self._ints)
        return {name: values[i] for name, i in zip(self._output_names, self._output_indices, strict=True)}

    def intermediate(self, x: tf.Tensor, tensor_name: str) -> tf.Tensor:
        """The value of any named tensor of the graph for input x (what a cut of the graph outputs)."""
        ops = _cut(self._ops, self._tensor_names, tensor_name)
        values = run_ops(ops, {self._input_index: x}, self._weights, self._ints)
        return values[ops[-1].outputs[0]]


def tf_layout(graph: TfliteGraph, index: int, value: np.ndarray) -> np.ndarray:
    """Put kernels in TensorFlow's layout once, at build time, instead of transposing per call."""
    for op in graph.ops:
        if len(op.inputs) > 1 and op.inputs[1] == index:
            if op.kind == "CONV_2D":
                return np.transpose(value, (1, 2, 3, 0))  # OHWI -> HWIO
            if op.kind == "DEPTHWISE_CONV_2D":
                multiplier = int(op.options["depthMultiplier"])
                _, h, w, cm = value.shape
                return value.reshape(h, w, cm // multiplier, multiplier)  # 1HW(C*M) -> HWCM
    return value


def ops_feeding(graph: TfliteGraph, tensor_name: str) -> tuple[TfliteOp, ...]:
    """The operators (in graph order) that the named tensor depends on: the graph cut at that tensor."""
    return _cut(graph.ops, graph.tensor_names, tensor_name)


def _cut(ops: tuple[TfliteOp, ...], tensor_names: dict[int, str], tensor_name: str) -> tuple[TfliteOp, ...]:
    by_name = {name: index for index, name in tensor_names.items()}
    if tensor_name not in by_name:
        raise KeyError(f"the graph has no tensor named {tensor_name!r}")
    needed = {by_name[tensor_name]}
    kept: list[TfliteOp] = []
    for op in reversed(ops):
        if op.outputs[0] in needed:
            kept.append(op)
            needed.update(op.inputs)
    return tuple(reversed(kept))


def run_ops(
    ops: tuple[TfliteOp, ...],
    values: dict[int, tf.Tensor],
    weights: Mapping[str, Any],
    ints: Mapping[int, np.ndarray],
) -> dict[int, tf.Tensor]:
    """Run the operators in order; `values` starts with the input tensor, `weights` holds float
    constants by str(tensor index) (variables, already in TensorFlow's layout)."""
    values = dict(values)
    for op in ops:
        values[op.outputs[0]] = _run(op, values, weights, ints)
    return values


def _run(
    op: TfliteOp, values: dict[int, tf.Tensor], weights: Mapping[str, Any], ints: Mapping[int, np.ndarray]
) -> tf.Tensor:
    o = op.options

    def operand(index: int) -> tf.Tensor:
        return values[index] if index in values else weights[str(index)]

    x = operand(op.inputs[0])
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kernel, bias = weights[str(op.inputs[1])], weights[str(op.inputs[2])]
        strides = (1, int(o["strideH"]), int(o["strideW"]), 1)
        dilations = (int(o["dilationHFactor"]), int(o["dilationWFactor"]))
        if op.kind == "CONV_2D":
            y = tf.nn.conv2d(x, kernel, strides, _PADDING[o["padding"]], dilations=dilations)
        else:
            y = tf.nn.depthwise_conv2d(x, kernel, strides, _PADDING[o["padding"]], dilations=dilations)
        return _activation(o, tf.nn.bias_add(y, bias))
    if op.kind == "ADD":
        return _activation(o, x + operand(op.inputs[1]))
    if op.kind == "RELU":
        return tf.nn.relu(x)
    if op.kind == "PAD":
        return _pad(x, ints[op.inputs[1]])
    if op.kind == "MAX_POOL_2D":
        y = tf.nn.max_pool2d(
            x,
            (int(o["filterHeight"]), int(o["filterWidth"])),
            (1, int(o["strideH"]), int(o["strideW"]), 1),
            _PADDING[o["padding"]],
        )
        return _activation(o, y)
    if op.kind == "RESIZE_BILINEAR":
        return tf.raw_ops.ResizeBilinear(
            images=x,
            size=_resized_size(x, op, ints),
            align_corners=bool(o["alignCorners"]),
            half_pixel_centers=bool(o["halfPixelCenters"]),
        )
    if op.kind == "RESHAPE":
        # Keep the batch dimension dynamic so the network accepts any batch size.
        shape = [int(d) for d in o["newShape"]]
        return tf.reshape(x, tf.concat([tf.shape(x)[:1], shape[1:]], axis=0))
    raise ValueError(f"operator {op.kind} is not supported")


def _resized_size(x: tf.Tensor, op: TfliteOp, ints: Mapping[int, np.ndarray]) -> Any:
    """The graph's fixed size when the input has the graph's own shape; otherwise the same scale factor,
    so a cut of the graph also runs at other input sizes (the trainer's backbone)."""
    size = ints[op.inputs[1]]
    graph_in = op.input_shape[1:3]
    if x.shape[1:3].as_list() == list(graph_in):
        return size
    factor = [int(size[0]) // graph_in[0], int(size[1]) // graph_in[1]]
    return tf.shape(x)[1:3] * factor


def variable_name(graph: TfliteGraph, index: int) -> str:
    # Variable names may not contain ':' and should stay readable in checkpoints.
    return graph.tensor_names[index].replace(":", "_").replace("/", "_")


def _pad(x: tf.Tensor, paddings: np.ndarray) -> tf.Tensor:
    """Zero padding; padding of the last axis only is written as a concatenation of zeros.

    Why: in TensorFlow 2.21 with oneDNN, grappler's remapper fuses Conv2D + BiasAdd + Add when the
    addend is a Pad output and the fused kernel crashes (segfault). A concat keeps that fusion safe.
    """
    if np.any(paddings[:-1]) or paddings[-1, 0] != 0:
        return tf.pad(x, paddings)
    extra = int(paddings[-1, 1])
    zeros = tf.zeros(tf.concat([tf.shape(x)[:-1], [extra]], axis=0), dtype=x.dtype)
    return tf.concat([x, zeros], axis=-1)
