"""LabelMe files: round trip, and every malformed file gives a clear error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from amyplant_trainer.datasets import DatasetError, load_dataset
from amyplant_trainer.labelme import (
    Annotation,
    AnnotationError,
    FaceBox,
    read_annotation,
    write_annotation,
)


def _image(folder: Path, name: str = "frame_0001.jpg", size: tuple[int, int] = (80, 60)) -> Path:
    path = folder / name
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), 128, np.uint8))
    return path


def test_round_trip_keeps_boxes_and_landmarks(tmp_path: Path) -> None:
    image = _image(tmp_path)
    points = ((10.0, 12.0), (20.0, 12.0), (15.0, 16.0), (11.0, 20.0), (19.0, 20.0))
    faces = [FaceBox(5, 6, 25, 30, landmarks=points), FaceBox(40, 10, 70, 50)]
    write_annotation(Annotation(image_path=image, width=80, height=60, faces=faces))
    loaded = read_annotation(image.with_suffix(".json"))
    assert loaded.faces == faces
    assert (loaded.width, loaded.height) == (80, 60)


def _write(folder: Path, document: dict[str, object]) -> Path:
    path = folder / "frame_0001.json"
    path.write_text(json.dumps(document))
    return path


def _document(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "version": "5.2.1",
        "imagePath": "frame_0001.jpg",
        "imageWidth": 80,
        "imageHeight": 60,
        "imageData": None,
        "shapes": [{"label": "face", "points": [[5, 6], [25, 30]], "shape_type": "rectangle", "group_id": 0}],
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"imageWidth": "80"}, "positive integers"),
        ({"imageWidth": 100}, "the annotation says 100x60"),
        ({"imagePath": "missing.jpg"}, "is missing"),
        ({"shapes": {"a": 1}}, "'shapes' must be a list"),
        (
            {"shapes": [{"label": "face", "points": [[5, 6], [500, 30]], "shape_type": "rectangle"}]},
            "outside",
        ),
        (
            {"shapes": [{"label": "face", "points": [[1, 1], [9, 9], [2, 8]], "shape_type": "polygon"}]},
            "polygon",
        ),
        ({"shapes": [{"label": "cat", "points": [[5, 6], [25, 30]], "shape_type": "rectangle"}]}, "'cat'"),
        ({"shapes": [{"label": "face", "points": [[5, 6]], "shape_type": "rectangle"}]}, "exactly 2 points"),
        ({"shapes": [{"label": "face", "points": [["a", 6], [9, 9]], "shape_type": "rectangle"}]}, "numbers"),
    ],
)
def test_malformed_annotations_are_explained(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    _image(tmp_path)
    path = _write(tmp_path, _document(**changes))
    with pytest.raises(AnnotationError, match=message) as error:
        read_annotation(path)
    assert str(path) in str(error.value)


def test_broken_json_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(AnnotationError, match="not readable LabelMe JSON"):
        read_annotation(path)


def test_dataset_lists_every_problem_at_once(tmp_path: Path) -> None:
    _image(tmp_path, "a.jpg")
    _image(tmp_path, "b.jpg")
    (tmp_path / "a.json").write_text("[]")
    with pytest.raises(DatasetError, match="2 problem") as error:
        load_dataset(tmp_path)
    assert "a.json" in str(error.value) and "b.jpg: no annotation" in str(error.value)


def test_image_without_faces_is_a_negative_example(tmp_path: Path) -> None:
    image = _image(tmp_path)
    write_annotation(Annotation(image_path=image, width=80, height=60, faces=[]))
    dataset = load_dataset(tmp_path)
    assert len(dataset.annotations) == 1 and dataset.faces == 0
    assert len(dataset.content_hash()) == 64
