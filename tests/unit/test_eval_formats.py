"""Readers of dlib XML, LabelMe JSON, pairs and labels CSV files: good files and every kind of bad one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from amyplant.evaluation.box_formats import read_dlib_xml, read_labelme_dir
from amyplant.evaluation.formats import (
    FormatError,
    enrollment_folders,
    read_attribute_labels,
    read_identity_labels,
    read_pairs,
)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (folder / name).write_bytes(b"not decoded by the readers")
    return folder


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


DLIB_XML = """<?xml version='1.0' encoding='ISO-8859-1'?>
<dataset>
<name>faces</name>
<images>
  <image file='a.jpg'>
    <box top='10' left='20' width='30' height='40'/>
    <box top='100' left='100' width='5' height='5' ignore='1'><label>tiny</label></box>
  </image>
  <image file='b.jpg'>
  </image>
</images>
</dataset>
"""


def test_dlib_xml_boxes_and_ignore_flags(images: Path) -> None:
    dataset = read_dlib_xml(_write(images / "faces.xml", DLIB_XML))
    assert dataset.name == "faces"
    assert [image.path.name for image in dataset.images] == ["a.jpg", "b.jpg"]
    np.testing.assert_array_equal(dataset.images[0].boxes[0], [20, 10, 50, 50])
    assert dataset.images[0].ignore.tolist() == [False, True]
    assert dataset.faces == 1
    assert dataset.images[1].boxes.shape == (0, 4)


def test_dlib_xml_images_folder_can_be_given(images: Path, tmp_path: Path) -> None:
    xml_path = _write(tmp_path / "elsewhere.xml", DLIB_XML)
    assert len(read_dlib_xml(xml_path, images).images) == 2
    with pytest.raises(FormatError, match=r"elsewhere\.xml:5: image 'a\.jpg' does not exist"):
        read_dlib_xml(xml_path)


HEAD = "<dataset><images>\n<image file='a.jpg'>"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{HEAD}\n<box top='1' left='x' width='3' height='4'/>", r":3: <box> left='x'"),
        (f"{HEAD}<box top='1' left='2' width='3'/>", r":2: <box> has no height"),
        ("<dataset><images>\n<image>", r":2: <image> has no file"),
        ("<dataset>\n<images>\n<image file='a.jpg'>\n</images>", r":4: not well-formed XML"),
        ("<dataset>\n<box top='1' left='2' width='3' height='4'/></dataset>", r":2: <box> must be inside"),
        (f"{HEAD}<box top='1' left='2' width='0' height='4'/>", r":2: <box> has width 0"),
        ("<dataset></dataset>", r"lists no <image>"),
    ],
)
def test_bad_dlib_xml_names_file_and_line(images: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_dlib_xml(_write(images / "bad.xml", text))


def _labelme(shapes: Sequence[object], image: str = "a.jpg") -> str:
    return json.dumps({"version": "5.2.1", "shapes": shapes, "imagePath": image, "imageData": None}, indent=1)


def _rectangle(points: list[list[int]]) -> dict[str, object]:
    return {"label": "face", "points": points, "shape_type": "rectangle"}


def test_labelme_rectangles_in_any_corner_order(images: Path) -> None:
    shapes = [
        {"label": "face", "points": [[50, 60], [10, 20]], "shape_type": "rectangle"},
        {"label": "ignore", "points": [[0, 0], [4, 4]], "shape_type": "rectangle"},
        {"label": "left_eye", "points": [[30, 30]], "shape_type": "point"},
    ]
    _write(images / "a.json", _labelme(shapes))
    _write(images / "b.json", _labelme([], "b.jpg"))
    dataset = read_labelme_dir(images)
    assert dataset.name == "images"
    np.testing.assert_array_equal(dataset.images[0].boxes, [[10, 20, 50, 60], [0, 0, 4, 4]])
    assert dataset.images[0].ignore.tolist() == [False, True]
    assert dataset.faces == 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"shapes": [\n', r"a\.json:2: not valid JSON"),
        (_labelme([_rectangle([[1, 2]])]), r"a\.json:4: a rectangle needs"),
        (_labelme([_rectangle([[1, 2], [1, 9]])]), r"a\.json:4: the rectangle"),
        (_labelme([], "missing.jpg"), r"imagePath 'missing\.jpg' does not exist"),
        (json.dumps({"shapes": []}), r"a\.json:1: has no imagePath"),
        (json.dumps({"imagePath": "a.jpg", "shapes": {}}), r"'shapes' must be a list"),
    ],
)
def test_bad_labelme_names_file_and_line(images: Path, document: str, message: str) -> None:
    _write(images / "a.json", document)
    with pytest.raises(FormatError, match=message):
        read_labelme_dir(images)


def test_labelme_folder_without_json_is_an_error(images: Path) -> None:
    with pytest.raises(FormatError, match="holds no LabelMe"):
        read_labelme_dir(images)


def test_pairs_accept_every_decision_spelling_and_a_header(images: Path) -> None:
    text = (
        "file_x,file_y,Decision\na.jpg,b.jpg,Yes\na.jpg,c.jpg,no\nb.jpg,c.jpg,1\n\n"
        "b.jpg,a.jpg,0\nc.jpg,a.jpg,same\nc.jpg,b.jpg,different\n"
    )
    pairs = read_pairs(_write(images / "pairs.csv", text), images)
    assert [pair.same for pair in pairs] == [True, False, True, False, True, False]
    assert pairs[3].line == 6
    assert pairs[0].file_x == images / "a.jpg"


def test_pairs_header_may_reorder_columns(images: Path) -> None:
    pairs = read_pairs(_write(images / "p.csv", "decision,file_y,file_x\nsame,a.jpg,b.jpg\n"), images)
    assert (pairs[0].file_x.name, pairs[0].file_y.name, pairs[0].same) == ("b.jpg", "a.jpg", True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.jpg,b.jpg,Yes\na.jpg,b.jpg,maybe\n", r"pairs\.csv:2: decision 'maybe'"),
        ("a.jpg,b.jpg,Yes\na.jpg,z.jpg,No\n", r"pairs\.csv:2: image 'z\.jpg' does not exist"),
        ("a.jpg,b.jpg\n", r"pairs\.csv:1: the row has no decision column"),
        ("file_x,file_y,decision\n", r"pairs\.csv: lists no pairs"),
    ],
)
def test_bad_pairs_name_file_and_line(images: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_pairs(_write(images / "pairs.csv", text), images)


def test_missing_csv_is_a_format_error(images: Path) -> None:
    with pytest.raises(FormatError, match=r"nope\.csv: no such file"):
        read_pairs(images / "nope.csv", images)


def test_identity_labels(images: Path) -> None:
    text = "file,identities\na.jpg,obama\nb.jpg,kit_harington; rose_leslie\nc.jpg,\n"
    labels = read_identity_labels(_write(images / "labels.csv", text), images)
    assert [label.identities for label in labels] == [("obama",), ("kit_harington", "rose_leslie"), ()]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,identities\na.jpg,x\na.jpg,y\n", r"labels\.csv:3: 'a\.jpg' is already listed on line 2"),
        ("a.jpg,x,y\n", r"labels\.csv:1: expected `file,identities`"),
        ("a.jpg,x;x\n", r"labels\.csv:1: the same identity"),
    ],
)
def test_bad_identity_labels(images: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_identity_labels(_write(images / "labels.csv", text), images)


def test_attribute_labels(images: Path) -> None:
    text = "file,age,gender\na.jpg,51,male\nb.jpg,,F\nc.jpg,30.5,\n"
    labels = read_attribute_labels(_write(images / "attrs.csv", text), images)
    assert [(label.age, label.gender) for label in labels] == [(51.0, "male"), (None, "female"), (30.5, None)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.jpg,old,male\n", r"attrs\.csv:1: age 'old' is not a number"),
        ("a.jpg,40,robot\n", r"attrs\.csv:1: gender 'robot'"),
        ("a.jpg,200,male\n", r"attrs\.csv:1: age 200 is outside"),
        ("a.jpg,,\n", r"attrs\.csv:1: the row gives neither"),
    ],
)
def test_bad_attribute_labels(images: Path, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_attribute_labels(_write(images / "attrs.csv", text), images)


def test_enrollment_folders(tmp_path: Path) -> None:
    for person, files in {"obama": ["1.jpg", "2.png"], "biden": ["1.jpeg"]}.items():
        (tmp_path / person).mkdir()
        for name in files:
            (tmp_path / person / name).write_bytes(b"x")
    (tmp_path / "obama" / "notes.txt").write_text("not an image")
    people = enrollment_folders(tmp_path)
    assert list(people) == ["biden", "obama"]
    assert [path.name for path in people["obama"]] == ["1.jpg", "2.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match=r"empty: holds no images"):
        enrollment_folders(tmp_path)
