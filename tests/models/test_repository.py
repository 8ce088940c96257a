"""The model repository: TF Serving layout, atomic publishing, rollback, models.config, build and CLI."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import threading
import time
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from amyplant_faces.models import repository
from amyplant_faces.models.spec import MODEL_NAMES
from amyplant_modelbuild import cli
from amyplant_modelbuild.build import build_missing, check_repository
from tests.models.tiny_models import TinyBuilder, tiny_builders

EMBEDDER = "face_embedder"


def _publish(repo: Path, scale: float, *, version: int | None = None) -> Path:
    builder = TinyBuilder(EMBEDDER, scale)
    return repository.publish(repo, built=builder.build(), version=version, builder="tests")


def test_publish_writes_tf_serving_layout_and_manifest(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    builder = TinyBuilder(EMBEDDER, 1.0)
    path = repository.publish(
        repo,
        built=builder.build(),
        check=lambda saved: {"max_abs_diff": 0.0, "saved": saved.name},
        builder="tiny",
    )

    assert path == repo / EMBEDDER / "1"
    assert (path / "saved_model.pb").is_file()
    assert (path / "variables").is_dir()
    manifest = repository.read_manifest(path)
    assert manifest["name"] == EMBEDDER and manifest["version"] == 1
    assert manifest["builder"] == "tiny" and manifest["tensorflow"]
    assert manifest["sources"][0]["package"] == "tests"
    assert manifest["signature"] == {"scale": 1.0}
    assert manifest["figures"] == {"built_with_scale": 1.0}
    assert manifest["extra"] == {"tiny": True}
    # The check ran on the staged copy, before it became a version.
    assert manifest["check"]["max_abs_diff"] == 0.0
    assert manifest["check"]["saved"].startswith(repository.STAGING_PREFIX)
    assert repository.list_versions(repo, name=EMBEDDER) == [1]
    assert [p.name for p in (repo / EMBEDDER).iterdir()] == ["1"]


def test_chip_models_carry_batching_parameters_and_whole_image_models_do_not(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    chips = dataclasses.replace(TinyBuilder(EMBEDDER, 1.0).build(), batch_requests=True)
    image = TinyBuilder("face_detector", 1.0).build()
    chips_path = repository.publish(repo, built=chips, builder="tiny")
    image_path = repository.publish(repo, built=image, builder="tiny")
    fields = dict(
        line.split(" ", 1) for line in (chips_path / repository.BATCHING_PARAMS_NAME).read_text().splitlines()
    )
    assert fields["max_batch_size"] == "{ value: 32 }"
    assert fields["batch_timeout_micros"] == "{ value: 0 }"  # a lone request never waits
    assert fields["pad_variable_length_inputs:"] == "false"
    assert not (image_path / repository.BATCHING_PARAMS_NAME).exists()
    # The shared thread pool file, and the real builders' choice: the chip models batch, the others not.
    config = repository.write_batching_config(repo)
    assert config.read_text() == "num_batch_threads { value: 4 }\n"
    from amyplant_modelbuild.builders import attributes, detector, embedder, landmarks

    for module, batches in ((embedder, True), (attributes, True), (detector, False), (landmarks, False)):
        source = inspect.getsource(module)
        assert ("batch_requests=True" in source) is batches, module.__name__


def test_readers_never_see_a_half_written_version(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    seen: set[int] = set()
    incomplete: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            time.sleep(0.001)  # leave the writer some CPU on small machines
            for version in repository.list_versions(repo, name=EMBEDDER):
                path = repository.version_dir(repo, name=EMBEDDER, version=version)
                seen.add(version)
                if (
                    not repository.is_valid_version(path)
                    or not (path / "variables" / "variables.index").is_file()
                ):
                    incomplete.append(f"{path}: {sorted(p.name for p in path.iterdir())}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for scale in (1.0, 2.0, 3.0):
            _publish(repo, scale)
    finally:
        done.set()
        reader.join()

    assert incomplete == []
    assert repository.list_versions(repo, name=EMBEDDER) == [1, 2, 3]
    assert seen <= {1, 2, 3} and seen


def test_failed_check_leaves_no_version_and_no_staging(tmp_path: Path) -> None:
    repo = tmp_path / "models"

    def failing_check(_saved: Path) -> dict[str, float]:
        raise RuntimeError("parity check failed")

    with pytest.raises(RuntimeError, match="parity check failed"):
        repository.publish(repo, built=TinyBuilder(EMBEDDER).build(), check=failing_check)

    assert repository.list_versions(repo, name=EMBEDDER) == []
    assert list((repo / EMBEDDER).iterdir()) == []


def test_existing_version_is_never_overwritten(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    _publish(repo, 1.0, version=1)
    with pytest.raises(repository.RepositoryError, match="already exists"):
        _publish(repo, 2.0, version=1)
    assert repository.read_manifest(repo / EMBEDDER / "1")["signature"] == {"scale": 1.0}


def test_rollback_retires_newest_and_numbers_are_not_reused(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    _publish(repo, 1.0)
    with pytest.raises(repository.RepositoryError, match="rollback needs one to fall back to"):
        repository.rollback(repo, name=EMBEDDER)
    _publish(repo, 2.0)

    assert repository.rollback(repo, name=EMBEDDER) == (2, 1)

    assert repository.list_versions(repo, name=EMBEDDER) == [1]
    assert repository.latest_version(repo, name=EMBEDDER) == 1
    assert repository.retired_versions(repo, name=EMBEDDER) == [2]
    assert (repo / EMBEDDER / ".retired" / "2" / "saved_model.pb").is_file()
    assert _publish(repo, 3.0).name == "3"


def test_promote_serves_an_earlier_version_again_under_a_new_number(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    _publish(repo, 1.0)
    _publish(repo, 2.0)
    with pytest.raises(repository.RepositoryError, match="already the one served"):
        repository.promote(repo, name=EMBEDDER, version=2)
    with pytest.raises(repository.RepositoryError, match="no whole version 9"):
        repository.promote(repo, name=EMBEDDER, version=9)

    assert repository.promote(repo, name=EMBEDDER, version=1) == 3  # a served, older version
    assert repository.list_versions(repo, name=EMBEDDER) == [1, 2, 3]
    manifest = repository.read_manifest(repo / EMBEDDER / "3")
    assert manifest["version"] == 3 and manifest["promoted_from"] == 1
    original = (repo / EMBEDDER / "1" / "saved_model.pb").read_bytes()
    assert (repo / EMBEDDER / "3" / "saved_model.pb").read_bytes() == original

    repository.rollback(repo, name=EMBEDDER)  # retires 3
    repository.rollback(repo, name=EMBEDDER)  # retires 2
    assert repository.promote(repo, name=EMBEDDER, version=2) == 4  # back from retirement
    assert repository.list_versions(repo, name=EMBEDDER) == [1, 4]
    assert repository.read_manifest(repo / EMBEDDER / "4")["promoted_from"] == 2
    assert not [p for p in (repo / EMBEDDER).iterdir() if p.name.startswith(".staging")]


def test_models_config_is_a_valid_tf_serving_config(tmp_path: Path) -> None:
    path = repository.write_models_config(tmp_path, served_root="/models")

    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = config.model_config_list.config
    assert [e.name for e in entries] == list(MODEL_NAMES)
    assert [e.base_path for e in entries] == [f"/models/{name}" for name in MODEL_NAMES]
    assert {e.model_platform for e in entries} == {"tensorflow"}
    assert {e.model_version_policy.latest.num_versions for e in entries} == {repository.SERVED_VERSIONS}
    assert path.stat().st_mode & 0o044 == 0o044  # readable by a server running as another user


def test_build_missing_is_idempotent_and_records_check_figures(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    builders = tiny_builders()

    first = build_missing(repo, builders=builders, show_progress=False)
    second = build_missing(repo, builders=builders, show_progress=False)

    assert [(o.name, o.version, o.built) for o in first] == [(n, 1, True) for n in MODEL_NAMES]
    assert [o.built for o in second] == [False] * len(MODEL_NAMES)
    assert {b.builds for b in builders.values()} == {1}
    for name in MODEL_NAMES:
        manifest = repository.read_manifest(repo / name / "1")
        assert manifest["check"]["max_abs_diff"] < 1e-5
        assert manifest["builder"] == "TinyBuilder"
    assert (repo / repository.CONFIG_NAME).is_file()


def test_build_quarantines_an_invalid_version_and_rebuilds_it(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    (repo / EMBEDDER / "1").mkdir(parents=True)  # e.g. a copy that was interrupted
    builders = tiny_builders()

    outcomes = build_missing(repo, names=[EMBEDDER], builders=builders, show_progress=False)

    assert outcomes[0].built and outcomes[0].version == 1
    assert repository.is_valid_version(repo / EMBEDDER / "1")
    assert [p.name.split("-")[0] for p in (repo / EMBEDDER / ".retired").iterdir()] == ["1.invalid"]


def test_check_repository_reports_each_model(tiny_repo: Path, tmp_path: Path) -> None:
    results = check_repository(tiny_repo, builders=tiny_builders())
    assert list(results) == list(MODEL_NAMES)
    for figures in results.values():
        assert figures["version"] == 1
        assert figures["max_abs_diff"] < 1e-5

    empty = check_repository(tmp_path / "empty")
    assert all(entry["error"].startswith("not built") for entry in empty.values())


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="amyplant")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_list_and_rollback(tiny_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _publish(tiny_repo, 2.0)

    assert _run_cli(["models", "list", "--repo", str(tiny_repo), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing[EMBEDDER]["serving"] == 2
    assert [v["version"] for v in listing[EMBEDDER]["versions"]] == [1, 2]

    assert _run_cli(["models", "rollback", EMBEDDER, "--repo", str(tiny_repo)]) == 0
    assert "version 2 retired" in capsys.readouterr().out
    assert _run_cli(["models", "rollback", EMBEDDER, "--repo", str(tiny_repo)]) == 1
    assert "rollback refused" in capsys.readouterr().err

    assert _run_cli(["models", "list", "--repo", str(tiny_repo)]) == 0
    assert f"{EMBEDDER}: serving 1; versions: 1; retired: 2" in capsys.readouterr().out


def test_cli_check_json_on_an_empty_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["models", "check", "--repo", str(tmp_path), "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    assert sorted(results) == sorted(MODEL_NAMES)
    assert all(entry["version"] is None for entry in results.values())
