"""`amyplant up` brings the system up with a healthy /health, and SIGTERM leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from amyplant.embedded.ports import free_loopback_port
from amyplant_config.cores import worker_threads
from amyplant_faces.models.spec import MODEL_NAMES

pytestmark = pytest.mark.e2e


def _wait_for_health(
    url: str, process: subprocess.Popen[bytes], *, timeout_s: float, state_dir: Path
) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_s
    last: dict = {}  # type: ignore[type-arg]
    key_file = state_dir / "admin-key.txt"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"amyplant up exited early with {process.returncode}"
        try:
            # The parts' details are shown to a caller with a key: the generated admin key, once written.
            headers = {"X-API-Key": key_file.read_text().strip()} if key_file.is_file() else {}
            last = httpx.get(f"{url}/health", headers=headers, timeout=10).json()
            # Workers answer once their models are warm; wait for both.
            workers = last.get("parts", {}).get("workers", {}).get("detail", {}).get("count", 0)
            if last.get("status") == "ok" and workers == 2:
                return last
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise AssertionError(f"/health never became ok: {last}")


def _descendants_and_embedded(process: psutil.Process, state_dir: Path) -> list[psutil.Process]:
    found = process.children(recursive=True)
    # Postgres is started by pg_ctl and re-parented; find it by its data directory.
    for candidate in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(candidate.info["cmdline"] or [])
        if str(state_dir) in cmdline and candidate not in found:
            found.append(candidate)
    return found


def test_up_reports_every_part_healthy_and_sigterm_stops_everything(
    tmp_path: Path, built_model_repo: Path
) -> None:
    state_dir = tmp_path / "state"
    port = free_loopback_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AMYPLANT_") or key == "AMYPLANT_SHARED_DATA"
    }
    environment.update(
        {
            "AMYPLANT_STATE_DIR": str(state_dir),
            "AMYPLANT_MODEL_REPOSITORY": str(built_model_repo),
            "AMYPLANT_UP_WORKERS": "2",
        }
    )
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "amyplant.cli", "up", "--port", str(port), "--no-build-models"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}", process, timeout_s=240, state_dir=state_dir)
        parts = health["parts"]
        assert parts["redis"]["ok"] and parts["postgres"]["ok"] and parts["models"]["ok"]
        assert parts["postgres"]["detail"]["pgvector"].startswith("0.")
        assert parts["workers"]["detail"]["count"] == 2
        assert set(parts["models"]["detail"]["models"]) == set(MODEL_NAMES)

        status = subprocess.run(
            [sys.executable, "-m", "amyplant.cli", "status"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert "worker-2" in status.stdout and "health: ok" in status.stdout

        supervisor = psutil.Process(process.pid)
        everything = _descendants_and_embedded(supervisor, state_dir)
        names = " ".join(" ".join(p.cmdline()) for p in everything)
        assert "redis-server" in names and "postgres" in names and "worker" in names and "gallery" in names
        # Two workers share the cores instead of each sizing its thread pools to all of them.
        workers = [p for p in everything if "amyplant_inference.cli" in " ".join(p.cmdline())]
        assert len(workers) == 2
        for worker in workers:
            assert worker.environ().get("AMYPLANT_WORKER_THREADS") == str(worker_threads(2))

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        assert time.monotonic() - started <= 10.0
        _gone, alive = psutil.wait_procs(everything, timeout=2)
        assert not alive, f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert not (state_dir / "run" / "stack.json").exists()
