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
    try:
        health: Any = httpx.get(f"{record.gallery_url}/health", timeout=10).json()
    except (httpx.HTTPError, ValueError) as error:
        health = {"status": "unreachable", "error": str(error)}
    return {
        "running": True,
        "supervisor_pid": record.supervisor_pid,
        "gallery_url": record.gallery_url,
        "processes": processes,
        "health": health,
    }
