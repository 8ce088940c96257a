"""Settings shared by every service, and one settings class per service with its own prefix."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from amyplant_config.secret_files import FileSecretsSettings

# Values that must never protect a real installation; they are accepted only in development.
KNOWN_INSECURE_SECRETS = frozenset({"", "changeme", "secret", "development-only-secret"})
DEVELOPMENT_SECRET = "development-only-secret"


class Environment(StrEnum):
    """How strict the settings are about secrets."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class CommonSettings(FileSecretsSettings):
    """What every service needs to reach the rest of the system (prefix AMYPLANT_)."""

    model_config = SettingsConfigDict(env_prefix="AMYPLANT_", extra="ignore", protected_namespaces=())

    environment: Environment = Field(
        Environment.PRODUCTION,
        description="'development' allows built-in secrets; 'production' (default) refuses them.",
    )
    state_dir: Path = Field(
        Path(".state"),
        description="Where embedded Redis/Postgres data, models, snapshots and generated secrets live.",
    )
    redis_url: str | None = Field(
        None,
        description=(
            "Redis URL (redis://host:port/db). Unset: the bundled redis-server is started on loopback."
        ),
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of Postgres with pgvector. Unset: the embedded PostgreSQL 18 is started.",
    )
    database_password: str | None = Field(
        None,
        description=(
            "Password put into database_url when the URL has none: lets the URL stay in plain configuration "
            "while the password comes from a secret file (AMYPLANT_DATABASE_PASSWORD under the secrets dir)."
        ),
    )
    embedded_postgres_shared_buffers: str = Field(
        "256MB",
        pattern=r"^[0-9]+(kB|MB|GB)$",
        description=(
            "shared_buffers of the embedded PostgreSQL: the gallery's search is fastest when its indexes fit "
            "(person centroids: about 200 MB per million enrolled faces)."
        ),
    )
    model_server: str | None = Field(
        None,
        description=(
            "TensorFlow Serving address: grpc://host:8500 or http://host:8501. Unset: models run in process."
        ),
    )
    model_repository: Path | None = Field(
        None,
        description="Model repository (TensorFlow Serving layout). Unset: <state_dir>/models.",
    )
    frame_ttl_s: int = Field(60, ge=1, description="Seconds a captured frame stays in Redis.")

    @property
    def resolved_model_repository(self) -> Path:
        return self.model_repository or self.state_dir / "models"

    @model_validator(mode="after")
    def _password_into_database_url(self) -> Self:
        if self.database_url and self.database_password:
            self.database_url = url_with_password(self.database_url, self.database_password)
        return self


def url_with_password(url: str, password: str) -> str:
    """The URL with the password set for its user, unless it already carries one."""
    parts = urlsplit(url)
    if parts.password is not None or not parts.username:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    netloc = f"{parts.username}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class ServiceSettings(FileSecretsSettings):
    """Base of the per-service classes: holds the common settings and checks secrets."""

    model_config = SettingsConfigDict(extra="ignore", protected_namespaces=())

    common: CommonSettings = Field(default_factory=CommonSettings)

    def secret_fields(self) -> dict[str, str]:
        """The secrets this service needs; subclasses list theirs."""
        return {}

    @model_validator(mode="after")
    def _refuse_insecure_secrets(self) -> Self:
        if self.common.environment is Environment.DEVELOPMENT:
            return self
        weak = [name for name, value in self.secret_fields().items() if value in KNOWN_INSECURE_SECRETS]
        if weak:
            prefix = self.model_config.get("env_prefix", "")
            names = ", ".join(f"{prefix}{name.upper()}" for name in weak)
            raise ValueError(
                f"insecure or missing secret(s): {names}; set them, or set AMYPLANT_ENVIRONMENT=development"
            )
        return self


def generate_secret() -> str:
    """A fresh random secret, for `amyplant up` to write into the state directory on first start."""
    return secrets.token_urlsafe(32)


class GallerySettings(ServiceSettings):
    """The gallery API (prefix AMYPLANT_GALLERY_)."""

    model_config = SettingsConfigDict(env_prefix="AMYPLANT_GALLERY_", extra="ignore", protected_namespaces=())

    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port the API listens on.")
    api_key_pepper: str = Field(
        "", description="Secret mixed into stored API-key hashes. Required outside development."
    )
    bootstrap_admin_key: str | None = Field(
        None, description="Admin API key to create at first start; generated and shown once when unset."
    )
    small_face_px: float = Field(
        12.0,
        ge=0,
        description="Smallest face (pixels) looked for in large uploaded photos, on overlapping tiles; "
        "0 turns the tiled search off. Each tile costs one detector call (about 3 s for a 2400x1800 "
        "photo on 2 cores, bench/models.py).",
    )
    tiled_from_px: int = Field(
        1600, ge=1, description="Uploaded photos whose longer side reaches this are also searched in tiles."
    )
    match_threshold: float = Field(
        0.6, gt=0, description="Largest Euclidean embedding distance that still names a person."
    )
    max_upload_bytes: int = Field(15 * 1024 * 1024, gt=0, description="Largest accepted upload.")
    max_upload_pixels: int = Field(
        50_000_000, gt=0, description="Largest accepted image (decompression bombs)."
    )
    max_import_bytes: int = Field(
        4 * 1024**3, gt=0, description="Largest gallery archive accepted by POST /api/v1/import."
    )
    auth_failure_limit: int = Field(
        20,
        ge=1,
        description="Failed authentications (unknown or revoked keys) one client address may make per window "
        "before its requests are answered 429 until the window has passed.",
    )
    auth_failure_window_s: float = Field(
        60.0, gt=0, description="Seconds over which failed authentications of one address are counted."
    )

    datasets_dir: Path | None = Field(
        None,
        description="The only folder POST /api/v1/training may name datasets in (symlinks and '..' resolved; "
        "each dataset must exist here as a folder): the trainer's datasets folder "
        "(AMYPLANT_TRAINER_DATASETS_DIR) as this machine sees it. Unset: <state_dir>/datasets, the "
        "trainer's default.",
    )

    def resolved_datasets_dir(self) -> Path:
        return self.datasets_dir or self.common.state_dir / "datasets"

    def secret_fields(self) -> dict[str, str]:
        return {"api_key_pepper": self.api_key_pepper}


class WorkerSettings(ServiceSettings):
    """The Celery inference workers (prefix AMYPLANT_WORKER_)."""

    model_config = SettingsConfigDict(env_prefix="AMYPLANT_WORKER_", extra="ignore", protected_namespaces=())

    concurrency: int = Field(1, ge=1, description="Frames handled at once by one worker process.")
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description=(
            "CPU threads of this worker (TensorFlow's intra-op pool, OpenCV). Unset: every core the process "
            "may use; `amyplant up` sets the cores divided by its workers, so they do not compete."
        ),
    )
    queue: str = Field("frames", description="Celery queue the worker consumes.")
    visibility_timeout_s: int = Field(
        60, ge=5, description="Seconds before an unacknowledged frame is handed to another worker."
    )
    match_threshold: float = Field(
        0.6, gt=0, description="Largest embedding distance that names a person (as the gallery's)."
    )
    webhook_url: str | None = Field(None, description="Where alerts are POSTed (HMAC-signed JSON).")
    webhook_secret: str = Field("", description="HMAC key for alert webhooks. Required outside development.")
    webhook_timeout_s: float = Field(3.0, gt=0, description="Seconds one webhook attempt may take.")
    webhook_retries: int = Field(3, ge=0, le=10, description="Further attempts after a failed webhook.")
    mqtt_url: str | None = Field(
        None, description="MQTT broker, mqtt://host:1883 or mqtts://host:8883. Unset: no MQTT messages."
    )
    mqtt_username: str | None = Field(None, description="MQTT user name; unset for an anonymous broker.")
    mqtt_password: str = Field(
        "", description="MQTT password; required outside development when a user name is set."
    )
    mqtt_topic_prefix: str = Field("amyplant", description="Topics are <prefix>/<camera>/last_person, ...")
    mqtt_discovery_prefix: str = Field(
        "homeassistant", description="Home Assistant's MQTT discovery prefix for the per-camera sensors."
    )
    metrics_host: str = Field("127.0.0.1", description="Address of the Prometheus exporter.")
    metrics_port: int = Field(0, ge=0, le=65535, description="Port of the Prometheus exporter; 0: off.")
    annotated_ttl_s: int = Field(30, ge=1, description="Seconds a camera's latest annotated frame is kept.")
    track_max_gap_s: float = Field(
        2.0, gt=0, description="Seconds a face may go unseen before its track ends."
    )
    track_min_hits: int = Field(2, ge=1, description="Faces a track needs before it becomes an event.")
    track_refresh_s: float = Field(
        1.0,
        ge=0,
        description=(
            "Work per track: a face of a track already named (or found to be nobody enrolled) with "
            "confidence is only detected, and analysed again (landmarks, embedding, attributes, match) when "
            "it grows or this many seconds after the track's last analysed face. 0: analyse every face."
        ),
    )

    def secret_fields(self) -> dict[str, str]:
        secrets_needed = {"webhook_secret": self.webhook_secret} if self.webhook_url else {}
        if self.mqtt_url and self.mqtt_username:
            secrets_needed["mqtt_password"] = self.mqtt_password
        return secrets_needed


class CaptureSettings(ServiceSettings):
    """The capture service (prefix AMYPLANT_CAPTURE_)."""

    model_config = SettingsConfigDict(env_prefix="AMYPLANT_CAPTURE_", extra="ignore", protected_namespaces=())

    cameras_file: Path | None = Field(None, description="YAML or TOML file that lists the cameras.")
    max_pending_frames: int = Field(
        10, ge=1, description="Frames queued per camera before the oldest are dropped and counted."
    )
    jpeg_quality: int = Field(90, ge=10, le=100, description="JPEG quality of stored frames.")
    metrics_host: str = Field("127.0.0.1", description="Address of the Prometheus exporter.")
    metrics_port: int = Field(0, ge=0, le=65535, description="Port of the Prometheus exporter; 0: off.")
    status_interval_s: float = Field(
        2.0, gt=0, description="Seconds between camera status updates in Redis (read by the gallery health)."
    )


class TrainerSettings(ServiceSettings):
    """The trainer service (prefix AMYPLANT_TRAINER_)."""

    model_config = SettingsConfigDict(env_prefix="AMYPLANT_TRAINER_", extra="ignore", protected_namespaces=())

    datasets_dir: Path | None = Field(None, description="Where datasets live. Unset: <state_dir>/datasets.")
    seed: int = Field(1234, description="Seed for splits, augmentation and initialisation.")


class UpSettings(ServiceSettings):
    """`amyplant up`, the one-machine supervisor (prefix AMYPLANT_UP_)."""

    model_config = SettingsConfigDict(env_prefix="AMYPLANT_UP_", extra="ignore", protected_namespaces=())

    workers: int = Field(2, ge=0, description="Celery inference worker processes to start.")
    stop_timeout_s: float = Field(8.0, gt=0, description="Seconds children get to stop before SIGKILL.")
