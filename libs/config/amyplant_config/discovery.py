"""Where Redis and Postgres are for one service: its configured URLs, or those of a running `amyplant up`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from amyplant_config.settings import CommonSettings


class StackNotRunning(RuntimeError):
    """A service needs Redis or Postgres, and neither a URL nor a running embedded server is known."""


@dataclass
class StackRecord:
    """What `amyplant up` writes to <state_dir>/run/stack.json so other commands can find the parts."""

    supervisor_pid: int
    redis_url: str
    database_url: str
    gallery_url: str
    children: dict[str, int]
    embedded_pids: dict[str, int]

    @staticmethod
    def path(state_dir: Path) -> Path:
        return state_dir / "run" / "stack.json"

    def write(self, state_dir: Path) -> None:
        """Owner-only (0600): the database URL in it carries the embedded PostgreSQL's password."""
        target = self.path(state_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(asdict(self), indent=2))
        os.replace(temporary, target)

    @classmethod
    def read(cls, state_dir: Path) -> StackRecord | None:
        """The record of a supervisor that is still alive, or None."""
        try:
            record = cls(**json.loads(cls.path(state_dir).read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return record if psutil.pid_exists(record.supervisor_pid) else None


def resolve_urls(settings: CommonSettings) -> tuple[str, str]:
    """Redis and database URLs for a single service: configured ones first, then a running `amyplant up`."""
    record = StackRecord.read(settings.state_dir)
    redis_url = settings.redis_url or (record.redis_url if record else None)
    database_url = settings.database_url or (record.database_url if record else None)
    if redis_url is None or database_url is None:
        missing = [
            name
            for name, url in (("AMYPLANT_REDIS_URL", redis_url), ("AMYPLANT_DATABASE_URL", database_url))
            if url is None
        ]
        raise StackNotRunning(
            f"{' and '.join(missing)} not set and no `amyplant up` is running with state dir "
            f"{settings.state_dir}; run `amyplant up`, or set the URL(s)"
        )
    return redis_url, database_url
