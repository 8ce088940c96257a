"""Fixtures of the model repository and client tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from amyplant_modelbuild.build import build_missing
from tests.models.tiny_models import tiny_builders


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    """A repository holding version 1 of the three tiny models and models.config."""
    repo = tmp_path / "models"
    build_missing(repo, builders=tiny_builders(), show_progress=False)
    return repo
