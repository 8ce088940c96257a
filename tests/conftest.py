"""Fixtures shared by every test directory."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.stack_fixtures import (  # noqa: F401  (fixtures are found by name)
    database_url,
    embedded_postgres,
    redis_client,
    redis_url,
    shared_data,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The development photos and video: $AMYPLANT_SHARED_DATA, else ../shared/data beside the checkout."""
    configured = os.environ.get("AMYPLANT_SHARED_DATA")
    path = Path(configured) if configured else REPO_ROOT / ".." / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def built_model_repo() -> Path:
    """A repository with the four real models, built once (it takes minutes) and reused across sessions.

    Built into $AMYPLANT_TEST_MODEL_REPO when set, else <repo root>/.cache/test-models.
    """
    from amyplant_modelbuild.build import BUILDER_MODULES, build_missing

    missing = [module for module in BUILDER_MODULES.values() if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"model builders not available yet: {', '.join(missing)}")
    configured = os.environ.get("AMYPLANT_TEST_MODEL_REPO")
    repo = Path(configured) if configured else REPO_ROOT / ".cache" / "test-models"
    build_missing(repo, data_dir=shared_data_dir(), show_progress=False)
    return repo
