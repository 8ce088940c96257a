"""dlib's HOG face detector as the search runs it: the separable filter bank dlib builds from its weights."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from amyplant_faces.hog.arrays import F32, BoolArray, F32Array, F64Array, IntArray
from amyplant_faces.models.client import HogDetectorWeights

NUM_PLANES = 31


@dataclass(frozen=True)
class HogModel:
    """Everything the local search needs, derived once from the detector's arrays."""

    thresholds: F64Array  # [F]
    cell_size: int
    padding: int
    fhog_rows: int
    fhog_cols: int
    min_level_width: int
    min_level_height: int
    max_levels: int
    # The separable filters of all detectors, grouped [F, S] (S = most separable terms any detector has;
    # unused slots are zero and marked False in `used`), in dlib's order: plane, then singular value.
    planes: IntArray  # [F, S] fHOG plane of each term
    row_filters: F32Array  # [F, S, fhog_cols]
    col_filters: F32Array  # [F, S, fhog_rows]
    used: BoolArray  # [F, S]

    @classmethod
    def from_weights(cls, weights: HogDetectorWeights) -> HogModel:
        """Build from the detector as the face_landmarks model serves it (ModelClient.hog_detector)."""
        filters = np.asarray(weights.filters, dtype=np.float64)
        config = [int(v) for v in np.asarray(weights.config).tolist()]
        if filters.ndim != 4 or filters.shape[1] != NUM_PLANES or len(config) != 7:
            raise ValueError(f"not an fHOG detector: filters {filters.shape}, config {config}")
        count, planes, rows, cols = filters.shape
        terms: list[list[tuple[int, np.ndarray, np.ndarray]]] = []
        for d in range(count):
            detector_terms = []
            for p in range(planes):
                u, s, vt = np.linalg.svd(filters[d, p])
                # dlib's build_fhog_filterbank: singular values below max(1e-4, 0.001 * largest) are dropped,
                # so the filters dlib runs are rank-truncated approximations of the trained ones.
                keep = max(1e-4, float(s.max()) * 0.001)
                for j in np.argsort(-s, kind="stable"):
                    if s[j] >= keep:
                        root = math.sqrt(float(s[j]))
                        detector_terms.append((p, (vt[j] * root).astype(F32), (u[:, j] * root).astype(F32)))
            terms.append(detector_terms)
        if any(len(t) > planes * min(rows, cols) / 3.0 for t in terms):
            # dlib switches to the full (unapproximated) filters in that case; not needed for the face model.
            raise ValueError("a detector whose filters dlib would not run as separable ones is not supported")
        width = max(len(t) for t in terms)
        plane_idx = np.zeros((count, width), np.int64)
        row_f = np.zeros((count, width, cols), F32)
        col_f = np.zeros((count, width, rows), F32)
        used = np.zeros((count, width), np.bool_)
        for d, detector_terms in enumerate(terms):
            for j, (p, row, col) in enumerate(detector_terms):
                plane_idx[d, j], row_f[d, j], col_f[d, j], used[d, j] = p, row, col, True
        return cls(
            thresholds=np.asarray(weights.thresholds, dtype=np.float64),
            cell_size=config[0],
            padding=config[1],
            fhog_rows=rows,
            fhog_cols=cols,
            min_level_width=config[5],
            min_level_height=config[6],
            max_levels=config[4],
            planes=plane_idx,
            row_filters=row_f,
            col_filters=col_f,
            used=used,
        )

    @property
    def box_rows(self) -> int:
        return self.fhog_rows - 2 * self.padding

    @property
    def box_cols(self) -> int:
        return self.fhog_cols - 2 * self.padding
