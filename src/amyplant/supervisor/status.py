"""`amyplant status`: each part of a running `amyplant up`, and the gallery's health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psutil

from amyplant_config.discovery import StackRecord


def collect_status(state_dir: Path) -> dict[str, Any]:
    record = StackRecord.read(state_dir.resolve())
    if record is None:
        return {"running": False, "state_dir": str(state_dir)}
    processes = {
        name: {"pid": pid, "alive": psutil.pid_exists(pid)}
        for name, pid in {**record.embedded_pids, **record.children}.items()
    }
    # /health shows versions and errors only to a caller with a key: the owner's first admin key, if kept.
    key_file = state_dir.resolve() / "admin-key.txt"
    headers = {"X-API-Key": key_file.read_text().strip()} if key_file.is_file() else {}
    try:
        health: Any = httpx.get(f"{record.gallery_url}/health", headers=headers, timeout=10).json()
    except (httpx.HTTPError, ValueError) as error:
        health = {"status": "unreachable", "error": str(error)}
    return {
        "running": True,
        "supervisor_pid": record.supervisor_pid,
        "gallery_url": record.gallery_url,
        "processes": processes,
        "health": health,
    }
