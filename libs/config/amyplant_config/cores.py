"""The CPU cores this process may use (affinity and container quota) and one worker's share of them."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(*, cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Cores the scheduler lets this process run on, lowered to a container's CPU quota when it has one
    (docker --cpus, Kubernetes limits): os.cpu_count() alone sees the whole host."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota: the affinity is the limit
    return max(1, cores)


def worker_threads(workers: int, *, cores: int | None = None) -> int:
    """Threads for each of `workers` processes sharing this machine's cores (at least one each)."""
    return max(1, (cores if cores is not None else usable_cores()) // max(1, workers))
