"""Read a small float ONNX CNN (NCHW) and run it as TensorFlow ops in NHWC, weights held as variables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tensorflow as tf
from onnx import numpy_helper

SUPPORTED_OPS = frozenset(
    {
        "Conv", "Mul", "Add", "Relu", "AveragePool", "MaxPool", "Pad",
        "GlobalAveragePool", "Flatten", "Gemm", "Softmax",
    }
)  # fmt: skip
# ONNX axis i of a rank-4 NCHW tensor is axis _NHWC_AXIS[i] of the NHWC tensor that stands for it.
_NHWC_AXIS = (0, 3, 1, 2)
_RANK_KEEPING = frozenset({"Conv", "Relu", "AveragePool", "MaxPool", "Pad", "GlobalAveragePool", "Softmax"})


class UnsupportedOnnxError(ValueError):
    """The graph uses an operator, attribute value or tensor form this rebuild does not reproduce."""


@dataclass(frozen=True)
class OnnxNode:
    """One node: operator type, value names ('' for an omitted optional input) and plain attributes."""

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: dict[str, Any]


@dataclass(frozen=True)
class OnnxGraph:
    """A single-input, single-output graph with its initializers as numpy arrays."""

    nodes: tuple[OnnxNode, ...]
    initializers: dict[str, np.ndarray]
    input_name: str
    input_shape: tuple[int | None, ...]
    output_name: str
    opset: int

    def parameter_count(self) -> int:
        return int(sum(v.size for v in self.initializers.values() if v.dtype == np.float32))


def _attribute(proto: onnx.AttributeProto) -> Any:
    value = onnx.helper.get_attribute_value(proto)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return tuple(value)
    return value


def read_onnx(path: Path) -> OnnxGraph:
    """Load a model file; raises UnsupportedOnnxError naming every operator outside SUPPORTED_OPS."""
    model = onnx.load(str(path))
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedOnnxError(
            f"{path.name}: {len(inputs)} inputs, {len(graph.output)} outputs; need 1 and 1"
        )
    unknown = sorted({n.op_type for n in graph.node} - SUPPORTED_OPS)
    if unknown:
        raise UnsupportedOnnxError(
            f"{path.name}: operators {unknown} are not supported (supported: {sorted(SUPPORTED_OPS)})"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    nodes = tuple(
        OnnxNode(
            kind=n.op_type,
            name=n.name or n.output[0],
            inputs=tuple(n.input),
            outputs=tuple(n.output),
            attributes={a.name: _attribute(a) for a in n.attribute},
        )
        for n in graph.node
    )
    result = OnnxGraph(
        nodes=nodes,
        initializers=initializers,
        input_name=inputs[0].name,
        input_shape=tuple(d.dim_value if d.HasField("dim_value") else None for d in dims),
        output_name=graph.output[0].name,
        opset=opset,
    )
    for node in nodes:
        _check_node(node, result)
    return result


def _check_node(node: OnnxNode, graph: OnnxGraph) -> None:
    """Refuse, at read time, every attribute value whose semantics the rebuild would not reproduce."""
    a = node.attributes
    where = f"{node.kind} node {node.name!r}"
    if len(node.outputs) > 1 and any(node.outputs[1:]):
        raise UnsupportedOnnxError(f"{where}: only the first output is supported")
    if a.get("auto_pad", "NOTSET") != "NOTSET":
        raise UnsupportedOnnxError(f"{where}: auto_pad={a['auto_pad']} is not supported, only explicit pads")
    if node.kind in ("Conv", "AveragePool", "MaxPool"):
        if len(a.get("kernel_shape", (0, 0))) != 2:
            raise UnsupportedOnnxError(f"{where}: only 2-D kernels are supported")
        if any(d != 1 for d in a.get("dilations", (1, 1))) and node.kind != "Conv":
            raise UnsupportedOnnxError(f"{where}: pooling dilations are not supported")
    if node.kind == "Conv":
        if a.get("group", 1) != 1:
            raise UnsupportedOnnxError(f"{where}: grouped convolution is not supported")
        if node.inputs[1] not in graph.initializers:
            raise UnsupportedOnnxError(f"{where}: the kernel must be an initializer")
    if node.kind == "MaxPool" and a.get("storage_order", 0) != 0:
        raise UnsupportedOnnxError(f"{where}: storage_order=1 is not supported")
    if node.kind == "Pad":
        if a.get("mode", "constant") != "constant":
            raise UnsupportedOnnxError(f"{where}: only constant padding is supported")
        if len(node.inputs) > 3 and node.inputs[3]:
            raise UnsupportedOnnxError(f"{where}: the axes input is not supported")
        if graph.opset >= 11 and node.inputs[1] not in graph.initializers:
            raise UnsupportedOnnxError(f"{where}: pads must be an initializer")
    if node.kind == "Gemm" and node.inputs[1] not in graph.initializers:
        raise UnsupportedOnnxError(f"{where}: B must be an initializer")


def _ranks(graph: OnnxGraph) -> dict[str, int]:
    """Rank of every value; rank-4 values are the ones carried in NHWC."""
    ranks = {name: v.ndim for name, v in graph.initializers.items()}
    ranks[graph.input_name] = len(graph.input_shape)
    for node in graph.nodes:
        if node.kind in _RANK_KEEPING:
            rank = ranks[node.inputs[0]]
        elif node.kind in ("Flatten", "Gemm"):
            rank = 2
        else:  # Mul, Add: numpy broadcasting
            operands = [ranks[i] for i in node.inputs]
            activations = {ranks[i] for i in node.inputs if i not in graph.initializers}
            if len(activations) > 1 and 4 in activations:
                raise UnsupportedOnnxError(f"{node.kind} node {node.name!r}: mixed-rank activations")
            rank = max(operands)
        ranks[node.outputs[0]] = rank
    return ranks


def _prepared_weights(graph: OnnxGraph, ranks: dict[str, int]) -> dict[str, np.ndarray]:
    """Float initializers put once, at build time, in the layout their consumer uses in NHWC."""
    prepared: dict[str, np.ndarray] = {}

    def put(name: str, value: np.ndarray) -> None:
        if name in prepared and not np.array_equal(prepared[name], value):
            raise UnsupportedOnnxError(f"initializer {name!r} is used in two different layouts")
        prepared[name] = np.ascontiguousarray(value, dtype=np.float32)

    for node in graph.nodes:
        inits = [(i, graph.initializers[i]) for i in node.inputs if i in graph.initializers]
        if node.kind == "Conv":
            put(node.inputs[1], np.transpose(graph.initializers[node.inputs[1]], (2, 3, 1, 0)))  # OIHW->HWIO
            if len(node.inputs) > 2 and node.inputs[2]:
                put(node.inputs[2], graph.initializers[node.inputs[2]])
        elif node.kind in ("Mul", "Add"):
            rank = ranks[node.outputs[0]]
            for name, value in inits:
                # Broadcasting aligns trailing axes, so a lower-rank constant gains leading 1s first.
                full = value.reshape((1,) * (rank - value.ndim) + value.shape)
                put(name, np.transpose(full, (0, 2, 3, 1)) if rank == 4 else full)
        elif node.kind == "Gemm":
            b = graph.initializers[node.inputs[1]]
            put(node.inputs[1], b.T if node.attributes.get("transB", 0) else b)
            if len(node.inputs) > 2 and node.inputs[2]:
                put(node.inputs[2], graph.initializers[node.inputs[2]])
    return prepared


def _variable_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name)


def _ceil_extra(size: int, kernel: int, stride: int, begin: int, end: int) -> int:
    """Rows (or columns) to add past the end so VALID pooling yields ONNX's ceil_mode output size."""
    span = size + begin + end
    out = math.ceil((span - kernel) / stride) + 1
    if (out - 1) * stride >= size + begin:  # a window may not start in the end padding
        out -= 1
    return max(0, (out - 1) * stride + kernel - span)


class OnnxNetwork(tf.Module):  # type: ignore[misc]  # TensorFlow ships no type hints
    """Runs an OnnxGraph; a rank-4 input is given in NHWC and every rank-4 value stays NHWC."""

    def __init__(self, graph: OnnxGraph, name: str | None = None) -> None:
        super().__init__(name=name)
        ranks = _ranks(graph)
        self._nodes = graph.nodes
        self._input_name = graph.input_name
        self._output_name = graph.output_name
        self._opset = graph.opset
        self._ranks = ranks
        # Integer initializers (pad amounts) are static graph structure, not weights.
        self._ints = {k: v.astype(np.int64) for k, v in graph.initializers.items() if v.dtype.kind in "iu"}
        self._floats = {k: v for k, v in graph.initializers.items() if v.dtype.kind == "f"}
        # String keys: tf.Module only tracks (and so saves) variables in string-keyed dicts.
        self._weights = {
            name: tf.Variable(value, trainable=False, name=_variable_name(name))
            for name, value in _prepared_weights(graph, ranks).items()
        }

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        values: dict[str, tf.Tensor] = {self._input_name: x}
        for node in self._nodes:
            values[node.outputs[0]] = self._run(node, values)
        return values[self._output_name]

    def _operand(self, name: str, values: dict[str, tf.Tensor]) -> tf.Tensor:
        return values[name] if name in values else self._weights[name]

    def _run(self, node: OnnxNode, values: dict[str, tf.Tensor]) -> tf.Tensor:
        x = self._operand(node.inputs[0], values)
        a = node.attributes
        kind = node.kind
        if kind == "Conv":
            return self._conv(node, x)
        if kind == "Mul":
            return x * self._operand(node.inputs[1], values)
        if kind == "Add":
            return x + self._operand(node.inputs[1], values)
        if kind == "Relu":
            return tf.nn.relu(x)
        if kind in ("AveragePool", "MaxPool"):
            return _pool(x, kind, a)
        if kind == "Pad":
            return self._pad(node, x)
        if kind == "GlobalAveragePool":
            return tf.reduce_mean(x, axis=(1, 2), keepdims=True)
        if kind == "Flatten":
            return self._flatten(node, x)
        if kind == "Gemm":
            return self._gemm(node, x)
        if kind == "Softmax":
            return self._softmax(node, x)
        raise UnsupportedOnnxError(f"operator {kind} is not supported")

    def _conv(self, node: OnnxNode, x: tf.Tensor) -> tf.Tensor:
        a = node.attributes
        top, left, bottom, right = a.get("pads", (0, 0, 0, 0))
        padding: str | list[list[int]] = "VALID"
        if any((top, left, bottom, right)):
            padding = [[0, 0], [top, bottom], [left, right], [0, 0]]
        y = tf.nn.conv2d(
            x,
            self._weights[node.inputs[1]],
            strides=(1, *a.get("strides", (1, 1)), 1),
            padding=padding,
            dilations=(1, *a.get("dilations", (1, 1)), 1),
        )
        if len(node.inputs) > 2 and node.inputs[2]:
            y = tf.nn.bias_add(y, self._weights[node.inputs[2]])
        return y

    def _pad(self, node: OnnxNode, x: tf.Tensor) -> tf.Tensor:
        a = node.attributes
        if self._opset >= 11:
            pads = [int(p) for p in self._ints[node.inputs[1]]]
            given = len(node.inputs) > 2 and node.inputs[2]
            value = float(self._floats[node.inputs[2]].reshape(())) if given else 0.0
        else:
            pads, value = [int(p) for p in a["pads"]], float(a.get("value", 0.0))
        rank = len(pads) // 2
        if any(p < 0 for p in pads):
            raise UnsupportedOnnxError(f"Pad node {node.name!r}: negative pads (cropping) are not supported")
        pairs = [[pads[i], pads[i + rank]] for i in range(rank)]
        if rank == 4:
            pairs = [pairs[i] for i in (0, 2, 3, 1)]  # NCHW order -> NHWC order
        return tf.pad(x, pairs, constant_values=value)

    def _flatten(self, node: OnnxNode, x: tf.Tensor) -> tf.Tensor:
        axis = int(node.attributes.get("axis", 1))
        if self._ranks[node.inputs[0]] == 4:
            x = tf.transpose(x, (0, 3, 1, 2))  # flatten in ONNX's NCHW element order
        rank = len(x.shape)
        axis = axis + rank if axis < 0 else axis
        trailing = x.shape[axis:]
        if axis == 0:
            return tf.reshape(x, (1, -1))
        if any(d is None for d in trailing):
            raise UnsupportedOnnxError(f"Flatten node {node.name!r}: needs static trailing dimensions")
        return tf.reshape(x, (-1, math.prod(trailing)))

    def _gemm(self, node: OnnxNode, x: tf.Tensor) -> tf.Tensor:
        a = node.attributes
        if a.get("transA", 0):
            x = tf.transpose(x)
        y = tf.matmul(x, self._weights[node.inputs[1]])
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        if alpha != 1.0:
            y = y * alpha
        if len(node.inputs) > 2 and node.inputs[2]:
            c = self._weights[node.inputs[2]]
            y = y + (c if beta == 1.0 else c * beta)
        return y

    def _softmax(self, node: OnnxNode, x: tf.Tensor) -> tf.Tensor:
        rank = self._ranks[node.inputs[0]]
        axis = int(node.attributes.get("axis", -1 if self._opset >= 13 else 1))
        axis = axis + rank if axis < 0 else axis
        if self._opset < 13 and axis != rank - 1:
            # Before opset 13, Softmax flattened every axis from `axis` on; only the last-axis case is plain.
            raise UnsupportedOnnxError(f"Softmax node {node.name!r}: opset {self._opset} coercion semantics")
        return tf.nn.softmax(x, axis=_NHWC_AXIS[axis] if rank == 4 else axis)


def _pool(x: tf.Tensor, kind: str, a: dict[str, Any]) -> tf.Tensor:
    """ONNX pooling with explicit pads, ceil_mode and (for averages) count_include_pad, in NHWC."""
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", (1, 1))
    top, left, bottom, right = a.get("pads", (0, 0, 0, 0))
    h, w = x.shape[1], x.shape[2]
    extra_h = extra_w = 0
    if a.get("ceil_mode", 0):
        if h is None or w is None:
            raise UnsupportedOnnxError("ceil_mode pooling needs static spatial dimensions")
        extra_h, extra_w = _ceil_extra(h, kh, sh, top, bottom), _ceil_extra(w, kw, sw, left, right)
    window, strides = (kh, kw), (sh, sw)
    if not any((top, left, bottom, right, extra_h, extra_w)):
        if kind == "MaxPool":
            return tf.nn.max_pool2d(x, window, strides, "VALID")
        return tf.nn.avg_pool2d(x, window, strides, "VALID")
    paddings = [[0, 0], [top, bottom + extra_h], [left, right + extra_w], [0, 0]]
    if kind == "MaxPool":
        return tf.nn.max_pool2d(tf.pad(x, paddings, constant_values=-np.inf), window, strides, "VALID")
    summed = tf.nn.avg_pool2d(tf.pad(x, paddings), window, strides, "VALID")
    # The divisor counts input cells, plus the explicit pads when count_include_pad is set; the rows
    # added for ceil_mode never count.
    ones = tf.ones_like(x[:1, :, :, :1])
    if a.get("count_include_pad", 0):
        ones = tf.pad(ones, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=1.0)
        mask_pads = [[0, 0], [0, extra_h], [0, extra_w], [0, 0]]
    else:
        mask_pads = paddings
    counted = tf.nn.avg_pool2d(tf.pad(ones, mask_pads), window, strides, "VALID")
    return summed / counted
