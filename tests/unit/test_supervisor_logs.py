"""The supervisor's log files are private: files 0600 in a 0700 folder, also when they existed before."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from amyplant.supervisor.children import Child


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def start_and_wait(log: Path) -> None:
    # `python -m this` prints a few lines and exits: enough to see where a child's output goes.
    child = Child("zen", "this", [], dict(os.environ), log)
    child.start()
    assert child.process is not None
    assert child.process.wait(timeout=30) == 0


def test_a_new_log_and_its_folder_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    log = tmp_path / "state" / "logs" / "gallery.log"
    start_and_wait(log)
    assert "Beautiful is better than ugly" in log.read_text()
    assert (mode(log.parent), mode(log)) == (0o700, 0o600)


def test_existing_world_readable_logs_are_made_private_and_appended_to(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o755)
    log = logs / "gallery.log"
    log.write_text("earlier run\n")
    log.chmod(0o644)
    logs.chmod(0o755)
    start_and_wait(log)
    assert log.read_text().startswith("earlier run\n") and "Zen of Python" in log.read_text()
    assert (mode(logs), mode(log)) == (0o700, 0o600)
