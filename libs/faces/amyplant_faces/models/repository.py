"""The model repository on disk, in TensorFlow Serving's layout, with atomic publishing and rollback.

Layout::

    <repo>/models.config                           ModelServerConfig text proto for --model_config_file
    <repo>/<model>/<version>/saved_model.pb        one SavedModel per integer version (+ variables/)
    <repo>/<model>/<version>/manifest.json         provenance and check figures of that version
    <repo>/<model>/<version>/batching_params.pbtxt how TF Serving may merge requests (chip models only)
    <repo>/batching.config                         the batching thread pool shared by those models
    <repo>/<model>/.staging-<version>-<random>/    a version being written (never served)
    <repo>/<model>/.retired/<version>/             versions taken out of service by rollback

TensorFlow Serving only treats directories whose names are integers as versions, so a version is
written into a hidden staging directory and renamed to its number when complete: a server or reader
never sees half a version. With the default version policy it serves the highest number; `models.config`
asks it to keep the newest two loaded so that a caller can still pin the previous one. The server notices
new or retired versions by listing each base_path every `--file_system_poll_wait_seconds` (default 1 s),
and rereads models.config every `--model_config_file_poll_wait_seconds` (off by default), e.g.::

    tensorflow_model_server --port=8500 --rest_api_port=8501 \
        --model_config_file=/models/models.config --file_system_poll_wait_seconds=5 \
        --enable_batching=true --enable_per_model_batching_parameters=true \
        --batching_parameters_file=/models/batching.config

With per-model batching parameters, TF Serving batches only the versions that hold a
batching_params.pbtxt: the embedder and the attributes nets, whose inputs are batches of same-sized
chips. The detector and the landmarks take one whole image of any size and are never merged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from amyplant_faces.models.spec import MODEL_NAMES, BuiltModel

log = logging.getLogger(__name__)

CONFIG_NAME = "models.config"
BATCHING_CONFIG_NAME = "batching.config"
BATCHING_PARAMS_NAME = "batching_params.pbtxt"
MANIFEST_NAME = "manifest.json"
SAVED_MODEL_NAME = "saved_model.pb"
RETIRED_DIR = ".retired"
STAGING_PREFIX = ".staging-"
DEFAULT_SERVED_ROOT = PurePosixPath("/models")
# Versions TF Serving keeps loaded per model: the newest serves unversioned requests, the previous one
# stays available to callers that pin it (and makes a rollback instant).
SERVED_VERSIONS = 2

_VERSION_NAME = re.compile(r"[0-9]+")


class RepositoryError(RuntimeError):
    """The repository cannot do what was asked (nothing to roll back to, a version already there...)."""


def model_dir(repo: Path, *, name: str) -> Path:
    """The base_path of one model."""
    return repo / name


def version_dir(repo: Path, *, name: str, version: int) -> Path:
    """The directory of one served version."""
    return repo / name / str(version)


def list_versions(repo: Path, *, name: str) -> list[int]:
    """Served versions of a model (integer-named directories), oldest first."""
    base = model_dir(repo, name=name)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if _VERSION_NAME.fullmatch(p.name) and p.is_dir())


def latest_version(repo: Path, *, name: str) -> int | None:
    """The version TF Serving sends unversioned requests to, or None when the model has none."""
    versions = list_versions(repo, name=name)
    return versions[-1] if versions else None


def retired_versions(repo: Path, *, name: str) -> list[int]:
    """Versions taken out of service by rollback, oldest first."""
    retired = model_dir(repo, name=name) / RETIRED_DIR
    if not retired.is_dir():
        return []
    return sorted(int(p.name) for p in retired.iterdir() if _VERSION_NAME.fullmatch(p.name))


def next_version(repo: Path, *, name: str) -> int:
    """A version number never used by this model, retired ones included, so numbers are never reused."""
    return max([0, *list_versions(repo, name=name), *retired_versions(repo, name=name)]) + 1


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a version directory."""
    manifest: dict[str, Any] = json.loads((path / MANIFEST_NAME).read_text(encoding="utf-8"))
    return manifest


def is_valid_version(path: Path) -> bool:
    """Whether a version directory holds a SavedModel and a readable manifest."""
    if not (path / SAVED_MODEL_NAME).is_file():
        return False
    try:
        read_manifest(path)
    except (OSError, ValueError):
        return False
    return True


def publish(
    repo: Path,
    *,
    built: BuiltModel,
    version: int | None = None,
    check: Callable[[Path], dict[str, Any]] | None = None,
    builder: str = "",
) -> Path:
    """Save a built model as a new version; it appears complete or not at all.

    The SavedModel is written into a hidden staging directory beside the versions, `check` (when given)
    measures the saved copy and its figures go into the manifest, every file and directory is fsynced,
    and only then is the staging directory renamed to the version number. Any failure removes the
    staging directory and leaves the served set untouched.
    """
    import tensorflow as tf

    base = model_dir(repo, name=built.name)
    base.mkdir(parents=True, exist_ok=True)
    number = next_version(repo, name=built.name) if version is None else version
    target = version_dir(repo, name=built.name, version=number)
    if target.exists():
        raise RepositoryError(f"{target} already exists; versions are never overwritten")
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{number}-", dir=base))
    try:
        # mkdtemp makes the directory private; a server running as another user must be able to read it.
        staging.chmod(0o755)
        signatures = {"serving_default": built.module.serve}
        signatures.update({name: getattr(built.module, attr) for name, attr in built.signatures.items()})
        tf.saved_model.save(built.module, str(staging), signatures=signatures)
        if built.batch_requests:
            (staging / BATCHING_PARAMS_NAME).write_text(batching_params_text(), encoding="utf-8")
        figures = check(staging) if check is not None else None
        manifest = build_manifest(
            built, version=number, builder=builder, check=figures, tf_version=tf.__version__
        )
        _write_json(staging / MANIFEST_NAME, manifest)
        _fsync_tree(staging)
        # rename() onto an existing non-empty directory fails instead of replacing it, so a version that
        # appeared meanwhile is never clobbered.
        os.rename(staging, target)
        _fsync_dir(base)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("published %s version %d at %s", built.name, number, target)
    return target


def build_manifest(
    built: BuiltModel, *, version: int, builder: str, check: dict[str, Any] | None, tf_version: str
) -> dict[str, Any]:
    """What a version's manifest.json records."""
    return {
        "name": built.name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "builder": builder,
        "tensorflow": tf_version,
        "sources": [asdict(source) for source in built.sources],
        "signature": built.signature,
        "figures": built.figures,
        "check": check,
        "extra": built.extra,
    }


def rollback(repo: Path, *, name: str) -> tuple[int, int]:
    """Retire the newest version so the previous one is served; returns (retired, now served)."""
    versions = list_versions(repo, name=name)
    if len(versions) < 2:
        raise RepositoryError(
            f"{name} has {len(versions)} served version(s) {versions}; rollback needs one to fall back to"
        )
    newest = versions[-1]
    _retire(repo, name=name, version=newest, label=str(newest))
    return newest, versions[-2]


def promote(repo: Path, *, name: str, version: int) -> int:
    """Serve an earlier version again, served or retired by rollback, under a new version number (numbers
    are never reused and TF Serving serves the highest): copied whole into a staging directory, its
    manifest noting the origin, fsynced, then renamed into place like a publish. Returns the new number."""
    source = version_dir(repo, name=name, version=version)
    if not source.is_dir():
        source = model_dir(repo, name=name) / RETIRED_DIR / str(version)
    if not is_valid_version(source):
        raise RepositoryError(f"{name} has no whole version {version} to promote")
    if version == latest_version(repo, name=name):
        raise RepositoryError(f"{name} version {version} is already the one served")
    base = model_dir(repo, name=name)
    number = next_version(repo, name=name)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{number}-", dir=base))
    try:
        staging.chmod(0o755)
        shutil.copytree(source, staging, dirs_exist_ok=True)
        manifest = read_manifest(staging)
        manifest.update(version=number, promoted_from=version, promoted_at=datetime.now(UTC).isoformat())
        _write_json(staging / MANIFEST_NAME, manifest)
        _fsync_tree(staging)
        os.rename(staging, version_dir(repo, name=name, version=number))
        _fsync_dir(base)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("promoted %s version %d as version %d", name, version, number)
    return number


def quarantine(repo: Path, *, name: str, version: int) -> Path:
    """Take a broken version out of the served set, keeping it under .retired for inspection."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return _retire(repo, name=name, version=version, label=f"{version}.invalid-{stamp}")


def _retire(repo: Path, *, name: str, version: int, label: str) -> Path:
    retired = model_dir(repo, name=name) / RETIRED_DIR
    retired.mkdir(exist_ok=True)
    destination = retired / label
    if destination.exists():
        raise RepositoryError(f"{destination} already exists")
    os.rename(version_dir(repo, name=name, version=version), destination)
    _fsync_dir(retired)
    _fsync_dir(model_dir(repo, name=name))
    log.info("retired %s version %d to %s", name, version, destination)
    return destination


def clean_staging(repo: Path, *, name: str, older_than_s: float = 3600.0) -> list[Path]:
    """Remove staging directories left by interrupted publishes (young ones may still be in use)."""
    base = model_dir(repo, name=name)
    if not base.is_dir():
        return []
    cutoff = time.time() - older_than_s
    stale = [p for p in base.glob(f"{STAGING_PREFIX}*") if p.is_dir() and p.stat().st_mtime < cutoff]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def models_config_text(*, names: Iterable[str] = MODEL_NAMES, served_root: PurePosixPath | str) -> str:
    """ModelServerConfig (text proto) listing each model under the path where the server sees the repo."""
    blocks = []
    for name in names:
        base_path = PurePosixPath(served_root) / name
        blocks.append(
            "  config {\n"
            f'    name: "{name}"\n'
            f'    base_path: "{base_path}"\n'
            '    model_platform: "tensorflow"\n'
            f"    model_version_policy {{ latest {{ num_versions: {SERVED_VERSIONS} }} }}\n"
            "  }\n"
        )
    return "model_config_list {\n" + "".join(blocks) + "}\n"


# Request batching on a CPU server: merge what is already queued, never wait for more (a timeout of 0: a
# lone request runs at once), up to the largest batch a frame of faces needs; workers send one frame's
# faces per request, so merging happens when several workers call at the same moment.
BATCH_MAX_SIZE = 32
BATCH_TIMEOUT_MICROS = 0
BATCH_MAX_ENQUEUED = 64
BATCH_THREADS = 4  # the server's CPU limit in docker-compose.yml and k8s


def batching_params_text(
    *,
    max_batch_size: int = BATCH_MAX_SIZE,
    timeout_micros: int = BATCH_TIMEOUT_MICROS,
    max_enqueued_batches: int = BATCH_MAX_ENQUEUED,
) -> str:
    """A version's BatchingParameters (text proto), read by TF Serving from the version directory."""
    return (
        f"max_batch_size {{ value: {max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {timeout_micros} }}\n"
        f"max_enqueued_batches {{ value: {max_enqueued_batches} }}\n"
        "pad_variable_length_inputs: false\n"
    )


def write_batching_config(repo: Path, *, threads: int = BATCH_THREADS) -> Path:
    """<repo>/batching.config for --batching_parameters_file: with per-model parameters only its thread
    pool counts, shared by every model that batches."""
    repo.mkdir(parents=True, exist_ok=True)
    target = repo / BATCHING_CONFIG_NAME
    _atomic_write_text(target, f"num_batch_threads {{ value: {threads} }}\n")
    return target


def write_models_config(
    repo: Path, *, names: Iterable[str] = MODEL_NAMES, served_root: PurePosixPath | str = DEFAULT_SERVED_ROOT
) -> Path:
    """Write <repo>/models.config atomically (the server may be rereading it).

    `served_root` is the repository's path as the server sees it: /models when the repository is
    mounted there in the TensorFlow Serving container, or the absolute host path for a local server.
    """
    repo.mkdir(parents=True, exist_ok=True)
    target = repo / CONFIG_NAME
    _atomic_write_text(target, models_config_text(names=names, served_root=served_root))
    return target


def _atomic_write_text(target: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the file from a server of another user
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=json_default) + "\n", encoding="utf-8")


def json_default(value: object) -> object:
    # Figures often come back as numpy scalars or arrays.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _fsync_tree(root: Path) -> None:
    for directory, _subdirs, files in os.walk(root, topdown=False):
        for filename in files:
            fd = os.open(os.path.join(directory, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(directory))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
