"""The embedded Redis and Postgres that `amyplant up` starts for whatever the settings leave unconfigured."""

from __future__ import annotations

from amyplant.embedded.postgres_server import EmbeddedPostgres
from amyplant.embedded.redis_server import EmbeddedRedis
from amyplant_config.settings import CommonSettings


class EmbeddedStack:
    """Starts the embedded Redis and Postgres for whatever the settings leave unconfigured."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.redis: EmbeddedRedis | None = None
        self.postgres: EmbeddedPostgres | None = None

    def start(self, *, postgres_password: str | None = None) -> tuple[str, str]:
        """Return (redis_url, database_url), starting embedded servers where no URL is configured.

        Without a password the embedded PostgreSQL keeps a generated one beside its data.
        """
        redis_url = self.settings.redis_url
        database_url = self.settings.database_url
        try:
            if redis_url is None:
                self.redis = EmbeddedRedis(self.settings.state_dir / "redis")
                redis_url = self.redis.start()
            if database_url is None:
                self.postgres = EmbeddedPostgres(
                    self.settings.state_dir / "postgres",
                    password=postgres_password,
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
