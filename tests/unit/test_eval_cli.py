"""`amyplant eval`: bad input is one clear line naming the file (and line) with exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from amyplant.cli import main
from amyplant.evaluation.engines import load_image
from amyplant.evaluation.formats import FormatError


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"\xff\xd8 not really a jpeg")
    return path


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_pairs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["eval", "verify", "--pairs", str(tmp_path / "pairs.csv")], capsys)
    assert code == 2
    assert _one_line(err) == f"amyplant eval verify: {tmp_path / 'pairs.csv'}: no such file"


def test_bad_pairs_row_names_its_line(
    tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pairs.csv").write_text("file_x,file_y,Decision\na.jpg,a.jpg,Yes\na.jpg,a.jpg,perhaps\n")
    argv = ["eval", "verify", "--pairs", str(tmp_path / "pairs.csv"), "--images", str(tmp_path)]
    code, err = _run(argv, capsys)
    assert code == 2
    assert f"{tmp_path / 'pairs.csv'}:3: decision 'perhaps'" in _one_line(err)


def test_bad_xml_names_its_line(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "faces.xml").write_text("<dataset><images>\n<image file='a.jpg'>\n<box top='1'/>\n")
    code, err = _run(["eval", "detect", "--dlib-xml", str(tmp_path / "faces.xml")], capsys)
    assert code == 2
    assert f"{tmp_path / 'faces.xml'}:3: <box> has no left attribute" in _one_line(err)


def test_bad_labelme_json_names_its_line(
    tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.json").write_text('{\n"imagePath": "a.jpg",\n"shapes": [,]\n}')
    code, err = _run(["eval", "detect", "--labelme", str(tmp_path)], capsys)
    assert code == 2
    assert f"{tmp_path / 'a.json'}:3: not valid JSON" in _one_line(err)


def test_detect_without_ground_truth(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["eval", "detect"], capsys)
    assert code == 2
    assert "--dlib-xml FILE or --labelme DIR" in _one_line(err)


def test_identify_with_missing_enroll_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "identify", "--enroll", str(tmp_path / "nobody"), "--probe", str(tmp_path)]
    code, err = _run(argv, capsys)
    assert code == 2
    assert "nobody: is not a directory" in _one_line(err)


def test_identify_with_missing_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "enroll" / "obama").mkdir(parents=True)
    (tmp_path / "enroll" / "obama" / "1.jpg").write_bytes(b"x")
    argv = ["eval", "identify", "--enroll", str(tmp_path / "enroll"), "--probe", str(tmp_path)]
    code, err = _run(argv, capsys)
    assert code == 2
    assert f"{tmp_path / 'labels.csv'}: no such file" in _one_line(err)


def test_attributes_with_bad_age(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "labels.csv").write_text("file,age,gender\na.jpg,forty,male\n")
    code, err = _run(["eval", "attributes", "--labels", str(tmp_path / "labels.csv")], capsys)
    assert code == 2
    assert ":2: age 'forty' is not a number" in _one_line(err)


def test_unknown_compare_system_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "detect", "--labelme", ".", "--compare", "insightface"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'insightface'" in capsys.readouterr().err


def test_undecodable_image_names_the_list_and_line(tmp_path: Path, image: Path) -> None:
    with pytest.raises(FormatError, match=rf"pairs\.csv:7: image {image} is not a decodable image"):
        load_image(image, tmp_path / "pairs.csv", 7)


def test_empty_model_repository_is_one_clear_line(
    tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pairs.csv").write_text("a.jpg,a.jpg,Yes\n")
    argv = ["eval", "verify", "--pairs", str(tmp_path / "pairs.csv"), "--repo", str(tmp_path / "models")]
    code, err = _run(argv, capsys)
    assert code == 2
    line = _one_line(err)
    assert line.startswith("amyplant eval verify: ")
    assert "face_detector" in line
