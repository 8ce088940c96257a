"""Child processes of the supervisor: each in its own process group, dying with the supervisor."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

PR_SET_PDEATHSIG = 1
# Logs may hold personal data (names of people seen, addresses): readable by the owner only.
LOG_DIR_MODE = 0o700
LOG_FILE_MODE = 0o600


def _die_with_parent() -> None:
    """Runs in the child before exec: if the supervisor is killed outright, the kernel sends SIGTERM."""
    # Not Linux: no prctl, but the process group still lets stop() reach every descendant.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised service process, restarted with backoff when it dies unexpectedly.

    `module` is the service's own command module (the one its image's entry point runs), so the
    embedded mode starts each service exactly as a container would.
    """

    name: str
    module: str
    arguments: list[str]
    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_restart_at: float = 0.0
    history: list[int] = field(default_factory=list)

    def start(self) -> None:
        log = open_private_log(self.log_path)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.arguments],
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return self.process.poll() if self.process else None

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def open_private_log(path: Path) -> BinaryIO:
    """The log file opened for appending, it and its folder private to the owner (also when they existed)."""
    path.parent.mkdir(mode=LOG_DIR_MODE, parents=True, exist_ok=True)
    path.parent.chmod(LOG_DIR_MODE)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_FILE_MODE)
    os.fchmod(descriptor, LOG_FILE_MODE)
    return os.fdopen(descriptor, "ab")


def stop_children(children: list[Child], *, timeout_s: float) -> None:
    """SIGTERM every child's process group, wait, then SIGKILL whatever is left; reap them all."""
    for child in children:
        if child.exited() is None:
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in children:
        if child.process is None:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for child in children:
        # Also kill stragglers in the group (e.g. a grandchild) even if the leader already exited.
        child.signal_group(signal.SIGKILL)
        if child.process is not None:
            child.process.wait()
