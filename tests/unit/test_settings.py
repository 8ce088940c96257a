"""Settings: per-service prefixes on a shared base, and no default secrets outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from amyplant_config.settings import (
    CaptureSettings,
    CommonSettings,
    Environment,
    GallerySettings,
    WorkerSettings,
)


def test_each_service_reads_its_own_prefix_and_the_shared_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMYPLANT_REDIS_URL", "redis://example:6380/2")
    monkeypatch.setenv("AMYPLANT_GALLERY_PORT", "9001")
    monkeypatch.setenv("AMYPLANT_CAPTURE_MAX_PENDING_FRAMES", "3")
    monkeypatch.setenv("AMYPLANT_GALLERY_API_KEY_PEPPER", "a-real-pepper-value")
    gallery = GallerySettings()
    capture = CaptureSettings()
    assert gallery.port == 9001
    assert gallery.common.redis_url == "redis://example:6380/2"
    assert capture.common.redis_url == "redis://example:6380/2"
    assert capture.max_pending_frames == 3


def test_missing_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMYPLANT_GALLERY_API_KEY_PEPPER", raising=False)
    monkeypatch.delenv("AMYPLANT_ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="AMYPLANT_GALLERY_API_KEY_PEPPER"):
        GallerySettings()


def test_known_default_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMYPLANT_WORKER_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("AMYPLANT_WORKER_WEBHOOK_SECRET", "changeme")
    with pytest.raises(ValidationError, match="AMYPLANT_WORKER_WEBHOOK_SECRET"):
        WorkerSettings()


def test_development_mode_accepts_missing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMYPLANT_ENVIRONMENT", "development")
    monkeypatch.delenv("AMYPLANT_GALLERY_API_KEY_PEPPER", raising=False)
    settings = GallerySettings()
    assert settings.common.environment is Environment.DEVELOPMENT
    assert settings.api_key_pepper == ""


def test_model_repository_defaults_under_the_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMYPLANT_STATE_DIR", "/var/lib/amyplant")
    monkeypatch.delenv("AMYPLANT_MODEL_REPOSITORY", raising=False)
    assert CommonSettings().resolved_model_repository == Path("/var/lib/amyplant/models")


def test_secrets_are_read_from_files_named_after_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # How Compose `secrets:` and Kubernetes secret volumes hand them over: one file per variable.
    monkeypatch.delenv("AMYPLANT_GALLERY_API_KEY_PEPPER", raising=False)
    monkeypatch.delenv("AMYPLANT_ENVIRONMENT", raising=False)
    monkeypatch.setenv("AMYPLANT_SECRETS_DIR", str(tmp_path))
    (tmp_path / "AMYPLANT_GALLERY_API_KEY_PEPPER").write_text("pepper-from-a-file\n")
    assert GallerySettings().api_key_pepper == "pepper-from-a-file"
    # An environment value still wins over the file.
    monkeypatch.setenv("AMYPLANT_GALLERY_API_KEY_PEPPER", "pepper-from-the-environment")
    assert GallerySettings().api_key_pepper == "pepper-from-the-environment"


def test_an_empty_secret_file_is_refused_like_a_missing_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AMYPLANT_GALLERY_API_KEY_PEPPER", raising=False)
    monkeypatch.delenv("AMYPLANT_ENVIRONMENT", raising=False)
    monkeypatch.setenv("AMYPLANT_SECRETS_DIR", str(tmp_path))
    (tmp_path / "AMYPLANT_GALLERY_API_KEY_PEPPER").write_text("")
    with pytest.raises(ValidationError, match="AMYPLANT_GALLERY_API_KEY_PEPPER"):
        GallerySettings()


def test_the_database_password_file_goes_into_a_url_without_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AMYPLANT_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("AMYPLANT_DATABASE_URL", "postgresql+psycopg://amyplant@postgres:5432/amyplant")
    (tmp_path / "AMYPLANT_DATABASE_PASSWORD").write_text("p@ss/word")
    assert (
        CommonSettings().database_url == "postgresql+psycopg://amyplant:p%40ss%2Fword@postgres:5432/amyplant"
    )
    # A URL that already carries a password keeps it.
    monkeypatch.setenv("AMYPLANT_DATABASE_URL", "postgresql+psycopg://amyplant:given@postgres/amyplant")
    assert CommonSettings().database_url == "postgresql+psycopg://amyplant:given@postgres/amyplant"
