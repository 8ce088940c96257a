"""Where Redis and Postgres are: the configured servers, or embedded ones that `amyplant up` started."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from amyplant.core.embedded.postgres_server import EmbeddedPostgres
from amyplant.core.embedded.redis_server import EmbeddedRedis
from amyplant.core.settings import CommonSettings


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
        target = self.path(state_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
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


class EmbeddedStack:
    """Starts the embedded Redis and Postgres for whatever the settings leave unconfigured."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.redis: EmbeddedRedis | None = None
        self.postgres: EmbeddedPostgres | None = None

    def start(self) -> tuple[str, str]:
        """Return (redis_url, database_url), starting embedded servers where no URL is configured."""
        redis_url = self.settings.redis_url
        database_url = self.settings.database_url
        try:
            if redis_url is None:
                self.redis = EmbeddedRedis(self.settings.state_dir / "redis")
                redis_url = self.redis.start()
            if database_url is None:
                self.postgres = EmbeddedPostgres(
                    self.settings.state_dir / "postgres",
                    server_settings={"shared_buffers": self.settings.embedded_postgres_shared_buffers},
                )
                database_url = self.postgres.start()
        except Exception:
            self.stop()
            raise
        return redis_url, database_url

    def pids(self) -> dict[str, int]:
        found: dict[str, int] = {}
        if self.redis is not None and self.redis.pid is not None:
            found["redis"] = self.redis.pid
        if self.postgres is not None and self.postgres.pid is not None:
            found["postgres"] = self.postgres.pid
        return found

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
