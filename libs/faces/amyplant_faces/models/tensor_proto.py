"""TensorProto <-> numpy conversion for the gRPC client, with numpy only (no TensorFlow ops)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

# DataType enum <-> numpy dtype, for the dtypes the face models' signatures use and their neighbours.
_NUMPY_BY_DTYPE: Mapping[int, np.dtype[Any]] = MappingProxyType(
    {
        types_pb2.DT_FLOAT: np.dtype("<f4"),
        types_pb2.DT_DOUBLE: np.dtype("<f8"),
        types_pb2.DT_HALF: np.dtype("<f2"),
        types_pb2.DT_UINT8: np.dtype("u1"),
        types_pb2.DT_INT8: np.dtype("i1"),
        types_pb2.DT_UINT16: np.dtype("<u2"),
        types_pb2.DT_INT16: np.dtype("<i2"),
        types_pb2.DT_INT32: np.dtype("<i4"),
        types_pb2.DT_INT64: np.dtype("<i8"),
        types_pb2.DT_BOOL: np.dtype("?"),
    }
)
_DTYPE_BY_NUMPY: Mapping[np.dtype[Any], int] = MappingProxyType(
    {dtype.newbyteorder("="): enum for enum, dtype in _NUMPY_BY_DTYPE.items()}
)

# Where TensorProto keeps values when tensor_content is not used.
_VALUE_FIELD: Mapping[int, str] = MappingProxyType(
    {
        types_pb2.DT_FLOAT: "float_val",
        types_pb2.DT_DOUBLE: "double_val",
        types_pb2.DT_HALF: "half_val",
        types_pb2.DT_UINT8: "int_val",
        types_pb2.DT_INT8: "int_val",
        types_pb2.DT_UINT16: "int_val",
        types_pb2.DT_INT16: "int_val",
        types_pb2.DT_INT32: "int_val",
        types_pb2.DT_INT64: "int64_val",
        types_pb2.DT_BOOL: "bool_val",
    }
)


def ndarray_to_proto(array: np.ndarray) -> Any:
    """A TensorProto holding the array's bytes in tensor_content (TF's own fast form)."""
    native = array.dtype.newbyteorder("=")
    enum = _DTYPE_BY_NUMPY.get(native)
    if enum is None:
        raise TypeError(f"cannot send numpy dtype {array.dtype} as a tensor")
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape]
    )
    content = np.ascontiguousarray(array, dtype=_NUMPY_BY_DTYPE[enum]).tobytes()
    return tensor_pb2.TensorProto(dtype=enum, tensor_shape=shape, tensor_content=content)


def proto_to_ndarray(proto: Any) -> np.ndarray:
    """The numpy array a TensorProto holds, from tensor_content or from its typed value field."""
    dtype = _NUMPY_BY_DTYPE.get(proto.dtype)
    if dtype is None:
        raise TypeError(f"cannot read tensor of {types_pb2.DataType.Name(proto.dtype)}")
    shape = tuple(int(dim.size) for dim in proto.tensor_shape.dim)
    size = int(np.prod(shape, dtype=np.int64))
    if proto.tensor_content:
        content: bytes = proto.tensor_content
        return np.frombuffer(content, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    values = list(getattr(proto, _VALUE_FIELD[proto.dtype]))
    if proto.dtype == types_pb2.DT_HALF:
        flat = np.asarray(values, dtype=np.uint16).view(np.float16)
    else:
        flat = np.asarray(values, dtype=dtype)
    if flat.size == size:
        return flat.reshape(shape)
    if flat.size == 0:
        return np.zeros(shape, dtype=flat.dtype)
    # TF stores trailing repeats once: the last value given fills the rest.
    return np.pad(flat, (0, size - flat.size), mode="edge").reshape(shape)
