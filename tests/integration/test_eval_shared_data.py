"""`amyplant eval` on ../shared/data with the real models: every command, its JSON keys and its figures.

Ground truth lives in tests/data/eval (boxes, pairs, ages; paths relative to the shared data) and in the
shared data's own probe/labels.csv. The lower bounds asserted here sit a little under the figures
recorded in docs/EVALUATION.md, so a regression fails while run-to-run noise does not.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from amyplant.cli import main
from amyplant.evaluation.box_formats import read_dlib_xml
from amyplant_faces.models.spec import MODEL_NAMES

pytestmark = pytest.mark.slow

TRUTH = Path(__file__).resolve().parents[1] / "data" / "eval"
HAS_FACE_RECOGNITION = importlib.util.find_spec("face_recognition") is not None


def _eval(argv: list[str], repo: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    code = main(["eval", *argv, "--repo", str(repo), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    result: dict[str, Any] = json.loads(captured.out)
    return result


def test_detect_on_dlib_xml(
    built_model_repo: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["detect", "--dlib-xml", str(TRUTH / "shared_faces.xml"), "--images", str(shared_data)]
    if HAS_FACE_RECOGNITION:
        argv += ["--compare", "face_recognition"]
    result = _eval(argv, built_model_repo, capsys)
    for key in ("recall_50", "precision_50", "recall_30", "ap_50", "images", "faces", "ms_median"):
        assert key in result
    assert (result["images"], result["faces"]) == (22, 26)
    # The one face our detector misses is the small child at the edge of obama_and_biden.jpg.
    assert result["recall_50"] >= 0.95
    assert result["precision_50"] >= 0.95
    assert result["ap_50"] >= 0.95
    if HAS_FACE_RECOGNITION:
        theirs = result["compare"]["face_recognition"]
        assert theirs["faces"] == 26
        assert theirs["recall_30"] >= 0.95


def test_detect_on_labelme_matches_the_xml(
    built_model_repo: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same boxes written as LabelMe files (absolute imagePath) must give the same figures.
    dataset = read_dlib_xml(TRUTH / "shared_faces.xml", shared_data)
    for index, entry in enumerate(dataset.images):
        shapes: list[dict[str, object]] = [
            {
                "label": "ignore" if ignored else "face",
                "points": [[b[0], b[1]], [b[2], b[3]]],
                "shape_type": "rectangle",
                "flags": {},
            }
            for b, ignored in zip(entry.boxes.tolist(), entry.ignore.tolist(), strict=True)
        ]
        image = str(entry.path.resolve())
        document = {"version": "5.2.1", "shapes": shapes, "imagePath": image, "imageData": None}
        (tmp_path / f"{index:02d}.json").write_text(json.dumps(document))
    labelme = _eval(["detect", "--labelme", str(tmp_path)], built_model_repo, capsys)
    xml = _eval(
        ["detect", "--dlib-xml", str(TRUTH / "shared_faces.xml"), "--images", str(shared_data)],
        built_model_repo,
        capsys,
    )
    for key in ("images", "faces", "detections", "recall_50", "precision_50", "recall_30", "ap_50"):
        assert labelme[key] == xml[key], key


def test_verify_pairs(built_model_repo: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "--pairs", str(TRUTH / "shared_pairs.csv"), "--images", str(shared_data)]
    if HAS_FACE_RECOGNITION:
        argv += ["--compare", "face_recognition"]
    result = _eval(argv, built_model_repo, capsys)
    for key in ("accuracy", "threshold", "best_threshold", "best_accuracy", "auc", "no_face"):
        assert key in result
    assert result["pairs"] == 120
    assert result["no_face"] == 0
    assert result["threshold"] == 0.6
    assert result["accuracy"] >= 0.97
    assert result["auc"] >= 0.99
    # 102 different-person pairs: FAR 1e-2 is measurable (one false accept allowed), 1e-3 is not.
    assert result["tar_at_far_1e-2"] is not None
    assert result["tar_at_far_1e-3"] is None
    if HAS_FACE_RECOGNITION:
        assert result["compare"]["face_recognition"]["accuracy"] >= 0.97


def test_identify_names_every_probe_face(
    built_model_repo: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "identify",
        "--enroll",
        str(shared_data / "enroll"),
        "--probe",
        str(shared_data / "probe"),
        "--labels",
        str(shared_data / "probe" / "labels.csv"),
    ]
    result = _eval(argv, built_model_repo, capsys)
    for key in ("correct", "wrong", "unknown", "missed"):
        assert key in result
    assert result["enroll_failed"] == 0, result["enroll_failed_files"]
    assert (result["expected"], result["correct"], result["wrong"], result["missed"]) == (7, 7, 0, 0)
    named = {Path(p["file"]).name: sorted(n for n in p["named"] if n) for p in result["probe_results"]}
    assert named["kit_with_rose.jpg"] == ["kit_harington", "rose_leslie"]
    assert named["obama_and_biden.jpg"] == ["biden", "obama"]


def test_attributes(built_model_repo: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["attributes", "--labels", str(TRUTH / "shared_attributes.csv"), "--images", str(shared_data)]
    result = _eval(argv, built_model_repo, capsys)
    assert "age_mae" in result and "gender_accuracy" in result
    assert result["images"] == 16
    assert result["no_face"] == 0
    # The true ages are estimates (+-3 years); gender is the public figures' own.
    assert result["age_mae"] <= 10.0
    assert result["gender_accuracy"] >= 0.9


def _two_detector_versions(built_model_repo: Path, tmp_path: Path) -> Path:
    """A repository whose detector has versions 1 and 2 (the same SavedModel) and the others only 1."""
    repo, built = tmp_path / "repo", built_model_repo.resolve()
    for name in MODEL_NAMES:
        (repo / name).mkdir(parents=True)
        os.symlink(built / name / "1", repo / name / "1")
    os.symlink(built / "face_detector" / "1", repo / "face_detector" / "2")
    return repo


def test_model_version_is_passed_to_the_models(
    built_model_repo: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _two_detector_versions(built_model_repo, tmp_path)
    xml = ["detect", "--dlib-xml", str(TRUTH / "shared_faces.xml"), "--images", str(shared_data)]
    newest = _eval(xml, repo, capsys)
    pinned = _eval([*xml, "--model-version", "2"], repo, capsys)
    assert (newest["model_version"], pinned["model_version"]) == (None, 2)
    assert pinned["recall_50"] == newest["recall_50"]
    # A version that only the detector has: detect runs, verify names the model that lacks it.
    pairs = ["verify", "--pairs", str(TRUTH / "shared_pairs.csv"), "--images", str(shared_data)]
    assert main(["eval", *pairs, "--repo", str(repo), "--model-version", "2"]) == 2
    assert "version 2 of model 'face_landmarks'" in capsys.readouterr().err
    assert main(["eval", *xml, "--repo", str(repo), "--model-version", "99"]) == 2
    assert "version 99 of model 'face_detector'" in capsys.readouterr().err
