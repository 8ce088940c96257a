"""The HOG box search (amyplant_faces.hog) against dlib's own detector: from a box near each face it finds
exactly the box, score and filter that `dlib.get_frontal_face_detector()` gives with one upsampling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skimage_data

from amyplant_faces.hog.model import HogModel
from amyplant_faces.hog.search import hog_boxes
from amyplant_faces.models.client import HogDetectorWeights
from amyplant_modelbuild.builders.hog_detector_format import read_hog_detector, saved_frontal_detector
from tests.conftest import shared_data_dir

dlib = pytest.importorskip("dlib")
CLIP_STEP = 6
SUFFIXES = {".jpg", ".jpeg", ".png"}


@pytest.fixture(scope="module")
def model() -> HogModel:
    detector = read_hog_detector(saved_frontal_detector()[0])
    weights = HogDetectorWeights(detector.filters, detector.thresholds, detector.config, detector.overlap)
    return HogModel.from_weights(weights)


def near(box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square box off dlib's by up to 8% of the side and 0.9-1.1x its size, as our detector's estimate."""
    side = float(np.mean(box[2:] - box[:2]))
    centre = (box[:2] + box[2:]) / 2 + rng.uniform(-0.08, 0.08, 2) * side
    half = side * rng.uniform(0.9, 1.1) / 2
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])


def shared_images(shared: Path | None) -> Iterator[tuple[str, np.ndarray]]:
    yield "astronaut", np.asarray(skimage_data.astronaut())  # type: ignore[no-untyped-call]
    if shared is None:
        return
    for folder in ("enroll", "probe", "photos", "video"):
        for path in sorted(p for p in (shared / folder).rglob("*") if p.suffix.lower() in SUFFIXES):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            assert bgr is not None, path
            yield str(path.relative_to(shared)), np.ascontiguousarray(bgr[:, :, ::-1])
    capture = cv2.VideoCapture(str(shared / "video" / "short_hamilton_clip.mp4"))
    index = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % CLIP_STEP == 0:
            yield f"clip frame {index}", np.ascontiguousarray(bgr[:, :, ::-1])
        index += 1
    capture.release()


def dlib_faces(image: np.ndarray) -> tuple[np.ndarray, list[float], list[int]]:
    rects, scores, filters = dlib.get_frontal_face_detector().run(image, 1, 0.0)
    boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float64).reshape(-1, 4)
    return boxes, list(scores), [int(f) for f in filters]


def test_every_face_of_the_shared_data_gets_dlibs_exact_box(model: HogModel) -> None:
    rng = np.random.default_rng(0)
    faces, wrong = 0, []
    shared = shared_data_dir()
    for name, image in shared_images(shared):
        truth, scores, filters = dlib_faces(image)
        if not len(truth):
            continue
        found = hog_boxes(image, np.stack([near(box, rng) for box in truth]), model)
        for index, box in enumerate(truth):
            faces += 1
            same = np.array_equal(found.boxes[index], box.astype(np.int64))
            # The score is dlib's to the last bit (float32 sums in dlib's order), and so is the filter.
            if not (same and found.scores[index] == scores[index] and found.filters[index] == filters[index]):
                wrong.append(
                    (name, box.tolist(), found.boxes[index].tolist(), scores[index], found.scores[index])
                )
    assert faces >= (50 if shared is not None else 1)
    assert not wrong, wrong


def test_faces_cut_by_the_image_border_get_dlibs_exact_box(model: HogModel) -> None:
    # Where a window crosses the top or left border dlib's box is a cell larger on that side.
    image = np.asarray(skimage_data.astronaut())  # type: ignore[no-untyped-call]
    face = dlib_faces(image)[0][0]  # the astronaut's face (dlib also reports a second, smaller box)
    rng = np.random.default_rng(5)
    left, top, right, bottom = (int(v) for v in face)
    side = right - left
    crops = [
        image[:, left + side // 5 :],
        image[top + side // 4 :, :],
        image[:, : right - side // 6],
        image[: bottom - side // 5, :],
        image[top + side // 8 :, left + side // 8 :],
    ]
    checked = 0
    for crop in crops:
        crop = np.ascontiguousarray(crop)
        truth, scores, _ = dlib_faces(crop)
        if not len(truth):
            continue
        found = hog_boxes(crop, np.stack([near(box, rng) for box in truth]), model)
        for index, box in enumerate(truth):
            checked += 1
            assert found.boxes[index].tolist() == box.astype(np.int64).tolist()
            assert found.scores[index] == scores[index]
    assert checked >= 3


def test_no_face_asked_or_no_window_near_gives_an_answer_for_each_box(model: HogModel) -> None:
    image = np.full((240, 320, 3), 128, np.uint8)
    assert hog_boxes(image, np.zeros((0, 4)), model).boxes.shape == (0, 4)
    # A box far outside the image has no window near it: no box, score -inf, filter -1.
    nowhere = hog_boxes(image, np.array([[2000.0, 2000.0, 2100.0, 2100.0]]), model)
    assert nowhere.filters.tolist() == [-1] and nowhere.scores[0] == -np.inf
    # A flat grey image: the windows near the box score far below dlib's threshold.
    flat = hog_boxes(image, np.array([[100.0, 60.0, 180.0, 140.0]]), model)
    assert flat.filters[0] >= 0 and flat.scores[0] < -1
