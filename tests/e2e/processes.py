"""Running `amyplant up` as a process for end-to-end tests: its environment and waiting for health."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx


def stack_environment(
    state_dir: Path, *, redis_url: str, database_url: str, models: Path, admin_key: str, workers: int = 2
) -> dict[str, str]:
    """The environment of `amyplant up` on the tests' Redis, Postgres and models, with a known admin key."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AMYPLANT_")}
    environment.update(
        {
            "AMYPLANT_STATE_DIR": str(state_dir),
            "AMYPLANT_REDIS_URL": redis_url,
            "AMYPLANT_DATABASE_URL": database_url,
            "AMYPLANT_MODEL_REPOSITORY": str(models),
            "AMYPLANT_UP_WORKERS": str(workers),
            "AMYPLANT_GALLERY_BOOTSTRAP_ADMIN_KEY": admin_key,
            # A killed worker's frame goes back to the queue after this many seconds.
            "AMYPLANT_WORKER_VISIBILITY_TIMEOUT_S": "5",
        }
    )
    return environment


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    """Return once `url`/health says ok; fail when the process exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "amyplant up exited"
        try:
            if httpx.get(f"{url}/health", timeout=10).json().get("status") == "ok":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise AssertionError("the system never became healthy")


def start_up(environment: dict[str, str], *, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """`amyplant up` on `port` with the models already built, its output into `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "amyplant.cli", "up", "--port", str(port), "--no-build-models"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
