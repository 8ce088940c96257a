"""Reads dlib's HOG frontal face detector (as dlib-bin saves it) into the arrays our HOG box search needs.

face_recognition finds faces with `dlib.get_frontal_face_detector()`, and dlib's 5-point shape predictor,
which places the chip our embedder sees, starts from that detector's box. To start it from the same box
around our own detections, the face_landmarks model carries the detector's filters (a second signature,
landmarks.py) and amyplant_faces.pipeline.hog_search scores them near each face.

The file is dlib's serialisation of object_detector<scan_fhog_pyramid<pyramid_down<6>>>: the detector's
version (2), the scanner's version (1), its (empty) cached feature pyramid, seven integers (cell size,
filter padding, detection window width and height, most pyramid levels, smallest level width and
height), the nuclear-norm strength used in training, the feature dimensions, the non-maximum suppression
tester (overlap and covered fractions), and one weight vector per filter (dims + 1 values: the filter,
then the threshold a window's score must reach).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amyplant_modelbuild.builders.dlib_format import DlibFormatError, DlibStream

DETECTOR_VERSION = 2
SCANNER_VERSION = 1
FHOG_PLANES = 31
CONFIG_FIELDS = (
    "cell_size",
    "padding",
    "window_width",
    "window_height",
    "max_levels",
    "min_level_width",
    "min_level_height",
)
PACKAGE_DIST = "dlib-bin"
SAVED_NAME = "frontal_face_detector.svm"


@dataclass(frozen=True)
class HogDetectorFile:
    """The detector's arrays: filters [F, 31, rows, cols] and thresholds [F] (float64), config [7]
    (int64, CONFIG_FIELDS), overlap [2] (float64: the suppression's overlap and covered fractions)."""

    filters: np.ndarray
    thresholds: np.ndarray
    config: np.ndarray
    overlap: np.ndarray


def read_hog_detector(data: bytes, *, source: str = "<bytes>") -> HogDetectorFile:
    """Parse the bytes of a saved fHOG object detector; anything else raises DlibFormatError."""
    stream = DlibStream(data, source=source)
    if (version := stream.integer("detector version")) != DETECTOR_VERSION:
        raise stream.fail(f"object_detector version {version}, expected {DETECTOR_VERSION}")
    if (version := stream.integer("scanner version")) != SCANNER_VERSION:
        raise stream.fail(f"scan_fhog_pyramid version {version}, expected {SCANNER_VERSION}")
    stream.integer("cached pyramid capacity")
    if stream.integer("cached pyramid size") != 0:
        raise stream.fail("a saved feature pyramid is not supported")
    config = [stream.integer(name) for name in CONFIG_FIELDS]
    stream.real("nuclear norm strength")  # training only
    dims = stream.integer("feature dimensions")
    overlap = [stream.real("overlap fraction"), stream.real("covered fraction")]
    count = stream.integer("filters")
    if not 0 < count <= 64:
        raise stream.fail(f"{count} filters")
    vectors = []
    for index in range(count):
        # dlib writes a matrix's size negated.
        rows, cols = -stream.integer(f"filter {index} rows"), -stream.integer(f"filter {index} cols")
        if cols != 1 or rows != dims + 1:
            raise stream.fail(f"filter {index} is {rows}x{cols}, expected {dims + 1}x1")
        vectors.append([stream.real(f"filter {index} weight") for _ in range(rows)])
    if stream.remaining:
        raise stream.fail(f"{stream.remaining} bytes left after the detector")
    cell_size, padding, window_width, window_height = config[:4]
    fhog_rows = _cells(window_height, cell_size) + 2 * padding
    fhog_cols = _cells(window_width, cell_size) + 2 * padding
    if fhog_rows * fhog_cols * FHOG_PLANES != dims:
        raise DlibFormatError(f"{source}: {dims} dimensions do not fit a {fhog_rows}x{fhog_cols} window")
    weights = np.asarray(vectors, dtype=np.float64)
    return HogDetectorFile(
        filters=weights[:, :dims].reshape(count, FHOG_PLANES, fhog_rows, fhog_cols).copy(),
        thresholds=weights[:, dims].copy(),
        config=np.asarray(config, dtype=np.int64),
        overlap=np.asarray(overlap, dtype=np.float64),
    )


def saved_frontal_detector() -> tuple[bytes, str]:
    """dlib-bin's frontal face detector as dlib saves it, and dlib-bin's version. The weights live in
    the library (dlib has no separate file for them); saving is dlib's own way to get them out."""
    import dlib

    with tempfile.TemporaryDirectory(prefix="amyplant-hog-") as folder:
        path = Path(folder) / SAVED_NAME
        dlib.get_frontal_face_detector().save(str(path))
        data = path.read_bytes()
    return data, importlib.metadata.version(PACKAGE_DIST)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cells(window: int, cell_size: int) -> int:
    """Cells a centred window of `window` pixels spans (dlib's fhog window size, filter padding 1)."""
    low = -(window // 2)
    high = low + window - 1
    return _c_div(high - 1, cell_size) - _c_div(low - 1, cell_size) + 1


def _c_div(a: int, b: int) -> int:
    """C++ integer division (toward zero), as dlib's point arithmetic does."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient
