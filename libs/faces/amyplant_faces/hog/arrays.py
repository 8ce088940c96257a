"""The array types and dtype the HOG search computes in (float32, as dlib's vectorised code)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F32 = np.float32
F32Array = NDArray[np.float32]
F64Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
U8Array = NDArray[np.uint8]
BoolArray = NDArray[np.bool_]
