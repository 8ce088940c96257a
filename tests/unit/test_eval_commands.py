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
    AttributeLabel,
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
    _draw(tmp_path / "b1.png", [(10, 10, 50, BLUE)])
    _draw(tmp_path / "empty.png", [])
    return tmp_path


# Any two of the three colours, as descriptors: |(170, 170, 0)| / 255.
COLOUR_DISTANCE = 170 * np.sqrt(2) / 255


def test_verification_figures_of_a_known_set(tmp_path: Path) -> None:
    folder = _pairs_set(tmp_path)
    (folder / "pairs.csv").write_text(
        "r1.png,r2.png,Yes\nr1.png,g1.png,No\nr2.png,g1.png,different\nr1.png,empty.png,same\n"
    )
    pairs = read_pairs(folder / "pairs.csv", folder)
    columns = verify.evaluate_verification([SquareFinder()], pairs, folder / "pairs.csv")
    figures = columns["squares"]
    assert (figures["pairs"], figures["no_face"], figures["no_face_pairs"]) == (4, 1, 1)
    # Three decided pairs are all right at 0.1 (same colour: distance 0); the no-face pair is an error.
    assert figures["accuracy"] == 0.75
    assert figures["best_accuracy"] == 0.75
    # All pairs: the same-person pair without a face sits at +inf, farther than both different pairs, so
    # 2 of the 4 same/different orderings are right; over the pairs with both faces the order is perfect.
    assert figures["auc"] == 0.5
    assert figures["auc_both_faces"] == 1.0
    assert figures["tar_at_far_1e-2"] is None
    assert figures["same_distance_max"] == 0.0
    assert figures["different_distance_min"] == pytest.approx(COLOUR_DISTANCE)
    # Four pairs cannot make ten folds: no figure, and the reason in the report.
    assert (figures["tenfold_accuracy"], figures["tenfold_std"], figures["tenfold_threshold"]) == (None,) * 3
    assert figures["tenfold_reason"] == "4 pairs: 10-fold accuracy needs at least 10"
    text = verify.render(columns)
    assert "10-fold figures of squares: n/a, 4 pairs" in text
    assert "error in every accuracy" in text


def test_verification_tenfold_counts_no_face_pairs_in_their_fold(tmp_path: Path) -> None:
    folder = _pairs_set(tmp_path)
    lines = [
        "r1.png,r2.png,Yes",
        "r1.png,g1.png,No",
        "r2.png,g1.png,No",
        "r1.png,b1.png,No",
        "g1.png,b1.png,No",
        "r2.png,b1.png,No",
        "r1.png,empty.png,Yes",  # no face: fold 7
        "g1.png,empty.png,No",  # no face: fold 8, wrong although "different" would be right
        "r2.png,r1.png,Yes",
        "b1.png,r1.png,No",
    ]
    (folder / "pairs.csv").write_text("\n".join(lines) + "\n")
    pairs = read_pairs(folder / "pairs.csv", folder)
    figures = verify.evaluate_verification([SquareFinder()], pairs, folder / "pairs.csv")["squares"]
    assert (figures["pairs"], figures["no_face_pairs"]) == (10, 2)
    # One pair per fold; every other fold is decided right at the middle of 0 and COLOUR_DISTANCE.
    assert figures["tenfold_fold_accuracies"] == [1.0] * 6 + [0.0, 0.0] + [1.0] * 2
    assert figures["tenfold_accuracy"] == pytest.approx(0.8)
    assert figures["tenfold_std"] == pytest.approx(0.4)  # sqrt((8 * 0.2**2 + 2 * 0.8**2) / 10)
    assert figures["tenfold_threshold"] == pytest.approx(COLOUR_DISTANCE / 2)
    assert figures["tenfold_reason"] is None
    assert figures["accuracy"] == 0.8
    # Positives 0, 0, +inf; negatives six at COLOUR_DISTANCE and one at +inf: the two found same-person
    # pairs beat all 7 negatives, the missed one ties with the missed negative (a half): 14.5 / 21.
    assert figures["auc"] == pytest.approx(14.5 / 21)
    assert figures["auc_both_faces"] == 1.0
    result = json.loads(render_json(document("verify", {"squares": figures}, "squares")))
    for key in ("tenfold_accuracy", "tenfold_std", "tenfold_threshold"):
        assert isinstance(result[key], float)
    assert "10-fold accuracy std" in verify.render({"squares": figures})


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
    columns = attributes.evaluate_attributes([SquareFinder()], labels, tmp_path / "labels.csv")
    figures = columns["squares"]
    assert (figures["images"], figures["no_face"], figures["ages"], figures["genders"]) == (3, 1, 2, 2)
    assert (figures["ages_labelled"], figures["genders_labelled"]) == (3, 3)
    # Ages: |50 - 40| and |30 - 36| over the two faces found; c.png has no age error to measure.
    assert figures["age_mae"] == 8.0
    # Genders: a.png right, b.png wrong, c.png (no face) wrong: 1 of 3; of the faces found, 1 of 2.
    assert figures["gender_accuracy"] == pytest.approx(1 / 3)
    assert figures["gender_accuracy_found"] == 0.5
    text = attributes.render(columns)
    assert "gender accuracy (no face: error)" in text
    assert "no face was found is a gender error" in text
    assert "the age MAE covers the faces found only" in text


def test_attribute_figures_of_a_system_without_estimates_are_missing_not_wrong() -> None:
    label = AttributeLabel(Path("a.png"), 40.0, "female", 2)
    face = EngineFace((0.0, 0.0, 10.0, 10.0), np.zeros(3))
    figures = attributes.attribute_figures([label], [face], estimates=False)
    assert (figures["age_mae"], figures["gender_accuracy"], figures["gender_accuracy_found"]) == (None,) * 3
    assert (figures["genders_labelled"], figures["genders"]) == (1, 0)


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
