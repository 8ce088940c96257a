"""Secrets that `amyplant up` generates on first start and keeps, readable only by its owner."""

from __future__ import annotations

import json
import os
from pathlib import Path

from amyplant_config.settings import generate_secret

EMBEDDED_POSTGRES_PASSWORD = "AMYPLANT_EMBEDDED_POSTGRES_PASSWORD"
# Environment variable -> what it protects; generated once per installation when not set by the user.
GENERATED_SECRETS = {
    "AMYPLANT_GALLERY_API_KEY_PEPPER": "hashes of API keys",
    "AMYPLANT_WORKER_WEBHOOK_SECRET": "HMAC signature of alert webhooks",
    EMBEDDED_POSTGRES_PASSWORD: "the embedded PostgreSQL's superuser (scram-sha-256)",
}


def load_or_create_secrets(state_dir: Path) -> dict[str, str]:
    """The installation's secrets, creating <state_dir>/secrets.json (mode 0600) on first start."""
    path = state_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    missing = {name: generate_secret() for name in GENERATED_SECRETS if name not in stored}
    if missing:
        stored.update(missing)
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(stored, handle, indent=2)
        os.replace(temporary, path)
    # What the user set in the environment wins over what was generated.
    return {name: os.environ.get(name) or value for name, value in stored.items()}
