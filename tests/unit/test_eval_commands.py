"""The four evaluations end to end on generated images whose right answers are known exactly.

The face system here is a real (if simple) one: it finds solid coloured squares on a black background.
Its "descriptor" is the square's colour and its "age" the square's side, so every figure can be worked
out by hand from how the images were drawn.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from amyplant.evaluation import attributes, detect, identify, verify
from amyplant.evaluation.box_formats import read_dlib_xml
from amyplant.evaluation.engines import EngineFace
from amyplant.evaluation.formats import (
    enrollment_folders,
    read_attribute_labels,
    read_identity_labels,
    read_pairs,
)
from amyplant.evaluation.report import document, render_json

RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)


class SquareFinder:
    """Finds solid squares: box from connected components, score from brightness, colour as descriptor."""

    name = "squares"
    threshold = 0.1
    has_attributes = True

    def _components(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
        mask = (image.max(axis=2) > 20).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        found = []
        for x, y, w, h, _area in stats[1:count]:
            colour = image[y : y + h, x : x + w].reshape(-1, 3).mean(axis=0) / 255.0
            found.append(((float(x), float(y), float(x + w), float(y + h)), colour))
        return found

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = self._components(image)
        boxes = np.asarray([box for box, _ in found], dtype=np.float64).reshape(-1, 4)
        return boxes, np.asarray([colour.max() for _, colour in found], dtype=np.float64)

    def faces(self, image: np.ndarray) -> list[EngineFace]:
        faces = [
            EngineFace(box, colour, age=box[2] - box[0], female_probability=float(colour[0] > colour[2]))
            for box, colour in self._components(image)
        ]
        return sorted(faces, key=lambda f: f.box[2] - f.box[0], reverse=True)


def _draw(path: Path, squares: list[tuple[int, int, int, tuple[int, int, int]]]) -> Path:
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    for x, y, side, colour in squares:
        image[y : y + side, x : x + side] = colour
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def test_detection_figures_of_a_known_set(tmp_path: Path) -> None:
    _draw(tmp_path / "a.png", [(10, 10, 50, RED), (100, 10, 50, GREEN)])
    _draw(tmp_path / "b.png", [(10, 10, 40, BLUE), (200, 100, 30, RED)])
    # a.png: both squares annotated exactly. b.png: the blue square annotated 20 px too far right (IoU
    # 20*40/(60*40) = 1/3: found at IoU 0.3, not at 0.5); the red square not annotated (a false detection);
    # one annotated face where nothing is drawn (a miss).
    (tmp_path / "truth.xml").write_text("""<dataset><name>known</name><images>
<image file='a.png'>
  <box top='10' left='10' width='50' height='50'/><box top='10' left='100' width='50' height='50'/>
</image>
<image file='b.png'>
  <box top='10' left='30' width='40' height='40'/><box top='150' left='10' width='20' height='20'/>
</image>
</images></dataset>""")
    columns = detect.evaluate_detection([SquareFinder()], [read_dlib_xml(tmp_path / "truth.xml")])
    figures = columns["squares"]
    assert (figures["images"], figures["faces"], figures["detections"]) == (2, 4, 4)
    assert (figures["recall_50"], figures["precision_50"]) == (0.5, 0.5)
    assert (figures["recall_30"], figures["precision_30"]) == (0.75, 0.75)
    # Scores by brightness: red 200/255 (hit, a), green 200/255 (hit), blue 200/255 (miss at 0.5), red
    # (false): two hits among the first two ranks (ties keep image order) give AP = 2/4 * 1.
    assert figures["ap_50"] == pytest.approx(0.5)
    assert figures["datasets"]["known"]["faces"] == 4
    assert "known" in detect.render(columns)


def _pairs_set(tmp_path: Path) -> Path:
    _draw(tmp_path / "r1.png", [(10, 10, 50, RED)])
    _draw(tmp_path / "r2.png", [(60, 60, 70, RED)])
    _draw(tmp_path / "g1.png", [(10, 10, 50, GREEN)])
    _draw(tmp_path / "empty.png", [])
    return tmp_path


def test_verification_figures_of_a_known_set(tmp_path: Path) -> None:
    folder = _pairs_set(tmp_path)
    (folder / "pairs.csv").write_text(
        "r1.png,r2.png,Yes\nr1.png,g1.png,No\nr2.png,g1.png,different\nr1.png,empty.png,same\n"
    )
    pairs = read_pairs(folder / "pairs.csv", folder)
    figures = verify.evaluate_verification([SquareFinder()], pairs, folder / "pairs.csv")["squares"]
    assert (figures["pairs"], figures["no_face"], figures["no_face_pairs"]) == (4, 1, 1)
    # Three decided pairs are all right at 0.1 (same colour: distance 0); the no-face pair is an error.
    assert figures["accuracy"] == 0.75
    assert figures["best_accuracy"] == 0.75
    assert figures["auc"] == 1.0
    assert figures["tar_at_far_1e-2"] is None
    assert figures["same_distance_max"] == 0.0
    assert figures["different_distance_min"] == pytest.approx(np.linalg.norm(np.subtract(RED, GREEN)) / 255)


def test_identification_counts_a_known_set(tmp_path: Path) -> None:
    enroll = tmp_path / "enroll"
    for person, colour in (("red", RED), ("green", GREEN)):
        (enroll / person).mkdir(parents=True)
        _draw(enroll / person / "1.png", [(10, 10, 50, colour)])
    (enroll / "red" / "2.png").write_bytes(cv2.imencode(".png", np.zeros((50, 50, 3), np.uint8))[1].tobytes())
    probe = tmp_path / "probe"
    probe.mkdir()
    _draw(probe / "both.png", [(10, 10, 60, RED), (150, 10, 40, GREEN)])
    _draw(probe / "stranger.png", [(10, 10, 60, BLUE)])
    _draw(probe / "wrong.png", [(10, 10, 60, GREEN)])
    (probe / "labels.csv").write_text("file,identities\nboth.png,red;green\nstranger.png,\nwrong.png,red\n")
    engine = SquareFinder()
    columns = identify.evaluate_identification(
        [engine],
        [identify.InMemoryGallery(engine)],
        enrollment_folders(enroll),
        read_identity_labels(probe / "labels.csv", probe),
        probe / "labels.csv",
    )
    figures = columns["squares"]
    assert (figures["expected"], figures["found"]) == (3, 4)
    assert (figures["correct"], figures["wrong"], figures["unknown"], figures["missed"]) == (2, 1, 1, 1)
    assert figures["enroll_failed"] == 1
    assert figures["enroll_failed_files"] == [{"file": str(enroll / "red" / "2.png"), "reason": "no_face"}]
    assert [p["named"] for p in figures["probe_results"]] == [["red", "green"], [None], ["green"]]
    assert "wrong.png" in identify.render(columns)


def test_attribute_figures_of_a_known_set(tmp_path: Path) -> None:
    _draw(tmp_path / "a.png", [(10, 10, 50, RED)])  # age 50, "female" (red)
    _draw(tmp_path / "b.png", [(10, 10, 30, BLUE)])  # age 30, "male"
    _draw(tmp_path / "c.png", [])
    (tmp_path / "labels.csv").write_text("file,age,gender\na.png,40,female\nb.png,36,female\nc.png,20,male\n")
    labels = read_attribute_labels(tmp_path / "labels.csv", tmp_path)
    figures = attributes.evaluate_attributes([SquareFinder()], labels, tmp_path / "labels.csv")["squares"]
    assert (figures["images"], figures["no_face"], figures["ages"], figures["genders"]) == (3, 1, 2, 2)
    assert figures["age_mae"] == 8.0
    assert figures["gender_accuracy"] == 0.5


def test_json_document_puts_our_figures_on_top_and_others_under_compare() -> None:
    columns = {"amyplant": {"auc": 0.9, "best_threshold": float("nan")}, "other": {"auc": 0.8}}
    result = json.loads(render_json(document("verify", columns, "amyplant", extra={"model_version": 2})))
    assert result == {
        "command": "verify",
        "model_version": 2,
        "auc": 0.9,
        "best_threshold": None,
        "compare": {"other": {"auc": 0.8}},
    }
