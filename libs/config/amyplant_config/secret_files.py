"""Secrets read from files (Docker/Compose secrets, Kubernetes secret volumes) instead of environment values.

A file named after the variable, e.g. `/run/secrets/AMYPLANT_GALLERY_API_KEY_PEPPER`, sets that setting;
the folder is `AMYPLANT_SECRETS_DIR` (default `/run/secrets`, where Compose mounts its `secrets:`). An
environment value wins over a file, so a deployment can still override one. A missing folder is normal
(the embedded mode keeps its generated secrets elsewhere) and is not warned about.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource

SECRETS_DIR_VARIABLE = "AMYPLANT_SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")


def secrets_dir() -> Path:
    return Path(os.environ.get(SECRETS_DIR_VARIABLE) or DEFAULT_SECRETS_DIR)


class FileSecretsSettings(BaseSettings):
    """Base of every settings class: environment first, then secret files, then defaults."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        folder = secrets_dir()
        if not folder.is_dir():
            return (init_settings, env_settings, dotenv_settings)
        # Read when the settings are made, not when the module is imported: tests and `up` set the folder.
        files = SecretsSettingsSource(settings_cls, secrets_dir=folder, case_sensitive=False)
        return (init_settings, env_settings, dotenv_settings, files)
