"""Builds the missing models into the repository and measures the published ones against the originals."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, Protocol, cast

import numpy as np
from tqdm import tqdm

from amyplant_faces.models import repository
from amyplant_faces.models.spec import MODEL_NAMES, BuiltModel

log = logging.getLogger(__name__)

BUILDER_MODULES: Mapping[str, str] = MappingProxyType(
    {
        "face_detector": "amyplant_modelbuild.builders.detector",
        "face_embedder": "amyplant_modelbuild.builders.embedder",
        "face_attributes": "amyplant_modelbuild.builders.attributes",
        "face_landmarks": "amyplant_modelbuild.builders.landmarks",
    }
)
FIRST_VERSION = 1

ServeFunction = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class Builder(Protocol):
    """What a builder module offers: the model, and a parity check of a saved copy against the original."""

    def build(self, progress: Callable[[str], None] | None = None) -> BuiltModel: ...

    def check(self, serve: ServeFunction, data_dir: Path | None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class BuildOutcome:
    """What build_missing did for one model."""

    name: str
    version: int
    path: Path
    built: bool  # False: a valid version was already there
    check: dict[str, Any] | None


def load_builder(name: str) -> Builder:
    """The builder module of a model (imported on demand: each pulls in heavy converters)."""
    if name not in BUILDER_MODULES:
        raise KeyError(f"no builder for model {name!r}; known: {', '.join(BUILDER_MODULES)}")
    return cast(Builder, importlib.import_module(BUILDER_MODULES[name]))


def default_data_dir() -> Path | None:
    """The evaluation data: $AMYPLANT_SHARED_DATA, else ../shared/data beside a source checkout, else None."""
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    return checkout if checkout.is_dir() else None


def build_missing(
    repo: Path,
    *,
    data_dir: Path | None = None,
    names: Iterable[str] = MODEL_NAMES,
    builders: Mapping[str, Builder] | None = None,
    served_root: PurePosixPath | str = repository.DEFAULT_SERVED_ROOT,
    show_progress: bool = True,
) -> list[BuildOutcome]:
    """Build and publish each model that has no valid served version, then write models.config.

    Idempotent: a model whose version 1 (or any later served version) is valid is skipped. A served
    version directory that is not valid (no SavedModel or manifest) is moved under .retired first, so
    neither TensorFlow Serving nor the in-process runtime trips over it.
    """
    names = list(names)
    repo.mkdir(parents=True, exist_ok=True)
    outcomes = []
    with tqdm(names, desc="models", unit="model", disable=not show_progress) as bar:
        for name in bar:
            bar.set_description(name)
            outcomes.append(
                _build_one(
                    repo, name=name, data_dir=data_dir, builders=builders, progress=bar.set_postfix_str
                )
            )
    # The batching file first: the server's start waits for models.config and needs both.
    repository.write_batching_config(repo)
    repository.write_models_config(repo, served_root=served_root)
    return outcomes


def _build_one(
    repo: Path,
    *,
    name: str,
    data_dir: Path | None,
    builders: Mapping[str, Builder] | None,
    progress: Callable[[str], None],
) -> BuildOutcome:
    repository.clean_staging(repo, name=name)
    existing = _valid_served_version(repo, name=name)
    if existing is not None:
        path = repository.version_dir(repo, name=name, version=existing)
        return BuildOutcome(
            name, existing, path, built=False, check=repository.read_manifest(path).get("check")
        )
    builder = builders[name] if builders is not None else load_builder(name)
    progress("building")
    built = builder.build(progress)
    if built.name != name:
        raise ValueError(f"the builder for {name} returned a model named {built.name!r}")
    free = FIRST_VERSION not in repository.retired_versions(repo, name=name)
    version = FIRST_VERSION if free else repository.next_version(repo, name=name)

    def check_saved(path: Path) -> dict[str, Any]:
        progress("checking the saved model")
        return run_check(builder, path, data_dir=data_dir)

    path = repository.publish(
        repo, built=built, version=version, check=check_saved, builder=_builder_name(builder)
    )
    return BuildOutcome(name, version, path, built=True, check=repository.read_manifest(path).get("check"))


def _valid_served_version(repo: Path, *, name: str) -> int | None:
    """The newest valid served version; invalid ones are quarantined on the way."""
    found = None
    for version in repository.list_versions(repo, name=name):
        path = repository.version_dir(repo, name=name, version=version)
        if repository.is_valid_version(path):
            found = version
        else:
            moved = repository.quarantine(repo, name=name, version=version)
            log.warning("%s version %d was incomplete; moved to %s", name, version, moved)
    return found


def run_check(builder: Builder, path: Path, *, data_dir: Path | None) -> dict[str, Any]:
    """The builder's parity figures for the SavedModel at `path`, reloaded from disk."""
    from amyplant_faces.models.inprocess import load_serving_function

    serve = load_serving_function(path)
    figures = builder.check(lambda inputs: serve(inputs), data_dir)
    if "max_abs_diff" not in figures:
        raise ValueError(f"{_builder_name(builder)}.check returned no max_abs_diff: {sorted(figures)}")
    return figures


def check_repository(
    repo: Path, data_dir: Path | None = None, *, builders: Mapping[str, Builder] | None = None
) -> dict[str, dict[str, Any]]:
    """Parity figures of each model's served (newest) version, keyed by model name."""
    results: dict[str, dict[str, Any]] = {}
    for name in MODEL_NAMES:
        version = repository.latest_version(repo, name=name)
        if version is None:
            results[name] = {"version": None, "error": f"not built in {repo}"}
            continue
        path = repository.version_dir(repo, name=name, version=version)
        try:
            builder = builders[name] if builders is not None else load_builder(name)
            figures = run_check(builder, path, data_dir=data_dir)
        except Exception as error:  # report every model, whatever one of them raised
            log.exception("checking %s failed", path)
            results[name] = {"version": version, "error": f"{type(error).__name__}: {error}"}
            continue
        results[name] = {"version": version, **figures}
    return results


def _builder_name(builder: Builder) -> str:
    return str(getattr(builder, "__name__", type(builder).__qualname__))
