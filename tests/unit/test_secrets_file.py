"""`amyplant up` generates each secret once, keeps it private, and lets the environment override it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from amyplant.supervisor.secrets_file import GENERATED_SECRETS, load_or_create_secrets


def test_secrets_are_generated_once_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GENERATED_SECRETS:
        monkeypatch.delenv(name, raising=False)
    first = load_or_create_secrets(tmp_path)
    second = load_or_create_secrets(tmp_path)
    assert first == second
    assert set(first) == set(GENERATED_SECRETS)
    assert all(len(value) >= 32 for value in first.values())
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


def test_environment_overrides_generated_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMYPLANT_GALLERY_API_KEY_PEPPER", "from-the-operator")
    assert load_or_create_secrets(tmp_path)["AMYPLANT_GALLERY_API_KEY_PEPPER"] == "from-the-operator"
