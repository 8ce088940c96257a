"""dlib's 5 face points for our detections: the shape predictor started from dlib's own HOG box."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from amyplant_faces.hog.model import HogModel
from amyplant_faces.hog.search import hog_boxes
from amyplant_faces.models.client import Detection, ModelClient

# dlib's 5-point predictor starts from its mean shape placed in a face rectangle, and where it ends
# depends on that start: face_recognition starts it from dlib's HOG detector's square boxes. Our
# detector's box (BlazeFace) and points (ONet) are mapped to such a square: its centre is the box
# centre, or the points' centroid, plus an offset in units of the face's size, and its side a multiple
# of that size; the two estimates are averaged. Fitted by least squares on the faces of
# ../shared/data (photos and every third clip frame) that both detectors find
# (`python tests/unit/landmark_start_fit.py` re-fits and prints them).
BOX_CENTRE_OFFSET = (0.002444, 0.010857)  # x, y in units of the box's mean side
BOX_SIDE_SCALE = 0.925666
POINTS_CENTRE_OFFSET = (-0.012121, -0.015601)  # x, y in units of the points' RMS spread
POINTS_SIDE_SCALE = 3.750473
# The predictor's answer jumps when its start moves by half a pixel (a feature pixel crosses a pixel
# boundary and a tree takes the other branch): on the same faces, moving dlib's own HOG box by 0.5 px
# moved face_recognition's descriptor by 0.049 (median). Averaging the answers from a grid of starts
# around the estimate gives the centre of that spread instead of one draw from it. On the photos of
# bench/descriptor_parity.py (median / 90th percentile distance to face_recognition's descriptors):
# one start 0.041 / 0.061, this 3 x 3 grid 0.036 / 0.059, a 5 x 5 grid of +-4% 0.032 / 0.057 at 25
# predictor runs per face instead of 9 (about 2.3 ms each).
JITTER_STEPS = 3
JITTER_SPAN = 0.03  # the grid reaches this fraction of the side each way
# Better than any estimate: the box dlib's HOG detector itself gives, found exactly by scoring its filters
# at the few windows near the estimate (amyplant_faces.hog). Then the predictor runs once, from the very
# start face_recognition uses. The grid above remains for models without the HOG detector and for faces
# where no window near the estimate scores at least this (dlib's score minus its threshold: 0 is where
# dlib reports a face): on the shared clip, 29 of 58 faces score below 0 (turned, blurred), and for them
# the best window lies off the face (their descriptors from it and from the grid differ by 0.25-0.36,
# median), while above 0 the two differ by 0.05 and the HOG box is dlib's own.
HOG_MIN_SCORE = 0.0


def start_rectangles(detections: Sequence[Detection]) -> np.ndarray:
    """One start square [N, 4] (left, top, right, bottom; dlib's convention) per detection."""
    if not detections:
        return np.zeros((0, 4), dtype=np.float64)
    boxes = np.asarray([d.box for d in detections], dtype=np.float64)
    points = np.asarray([d.landmarks for d in detections], dtype=np.float64).reshape(len(detections), -1, 2)
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    box_size = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2.0
    points_centre = points.mean(axis=1)
    points_size = np.sqrt(((points - points_centre[:, None]) ** 2).sum(axis=2).mean(axis=1))
    from_box = _square(box_centre, box_size, BOX_CENTRE_OFFSET, BOX_SIDE_SCALE)
    from_points = _square(points_centre, points_size, POINTS_CENTRE_OFFSET, POINTS_SIDE_SCALE)
    starts: np.ndarray = (from_box + from_points) / 2.0
    return starts


def jitter_grid(
    rectangles: np.ndarray, *, steps: int = JITTER_STEPS, span: float = JITTER_SPAN
) -> np.ndarray:
    """steps x steps shifted copies of each rectangle [N, steps * steps, 4]."""
    side = rectangles[:, 2] - rectangles[:, 0]
    offsets = np.linspace(-span, span, steps) if steps > 1 else np.zeros(1)
    dx, dy = np.meshgrid(offsets, offsets, indexing="xy")
    shifts = np.stack([dx.ravel(), dy.ravel(), dx.ravel(), dy.ravel()], axis=1)  # [S, 4]
    grid: np.ndarray = rectangles[:, None, :] + shifts[None, :, :] * side[:, None, None]
    return grid


def dlib_points(
    models: ModelClient,
    image: np.ndarray,
    detections: Sequence[Detection],
    *,
    model_version: int | None = None,
    hog: HogModel | None = None,
) -> np.ndarray:
    """dlib's 5 points [N, 5, 2] (float64, whole pixels) of each detection, rounded half up as dlib rounds
    its own. With the HOG detector (`hog`), from dlib's HOG box where one scores HOG_MIN_SCORE or more
    near the face; otherwise the mean of the predictor's answers from the jittered start squares (with
    a 5 x 5 grid, rounding brought the photos' median distance to face_recognition's descriptors from
    0.035 to 0.032 at a similar 90th percentile)."""
    if not detections:
        return np.zeros((0, 5, 2), dtype=np.float64)
    estimates = start_rectangles(detections)
    starts = [grid for grid in jitter_grid(estimates)]
    if hog is not None:
        found = hog_boxes(image, estimates, hog)
        for index in np.nonzero(found.scores >= HOG_MIN_SCORE)[0]:
            starts[index] = found.boxes[index][None, :].astype(np.float64)
    counts = [len(face_starts) for face_starts in starts]
    points = models.landmarks(image, np.concatenate(starts), model_version=model_version)
    answers = np.split(np.asarray(points, dtype=np.float64), np.cumsum(counts)[:-1])
    mean = np.stack([face_answers.mean(axis=0) for face_answers in answers])
    rounded: np.ndarray = np.floor(mean + 0.5)
    return rounded


def _square(centre: np.ndarray, size: np.ndarray, offset: tuple[float, float], scale: float) -> np.ndarray:
    middle = centre + np.asarray(offset)[None, :] * size[:, None]
    half = (scale * size / 2.0)[:, None]
    return np.concatenate([middle - half, middle + half], axis=1)
