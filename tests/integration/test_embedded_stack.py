"""The embedded Redis and Postgres start, serve, keep data across restarts and stop cleanly."""

from __future__ import annotations

import stat
from pathlib import Path

import psutil
import psycopg
import pytest
import redis
import sqlalchemy as sa

from amyplant.embedded.postgres_server import EmbeddedPostgres
from amyplant.embedded.redis_server import EmbeddedRedis
from amyplant_store.database import create_engine, current_revision, migrate, pgvector_version


def test_embedded_redis_keeps_data_across_a_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    client = redis.Redis.from_url(server.start())
    client.set("kept", b"yes")
    pid = server.pid
    server.stop()
    assert pid is not None and not psutil.pid_exists(pid)
    client = redis.Redis.from_url(server.start())
    try:
        assert client.get("kept") == b"yes"
    finally:
        client.close()
        server.stop()


def test_session_postgres_has_pgvector_and_the_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            version = pgvector_version(connection)
            assert version is not None and version.split(".")[0] == "0"
            assert current_revision(connection) is not None
            assert connection.execute(sa.text("show server_version")).scalar_one().startswith("18")
            distance = connection.execute(sa.text("select '[3,4]'::vector <-> '[0,0]'::vector")).scalar_one()
            assert distance == 5.0
    finally:
        engine.dispose()


def test_migrate_is_idempotent(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert current_revision(connection) is not None
    finally:
        engine.dispose()


def test_embedded_postgres_restarts_on_its_data(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("create table kept (value int)"))
        connection.execute(sa.text("insert into kept values (42)"))
    engine.dispose()
    pid = server.pid
    server.stop()
    assert pid is not None and not psutil.pid_exists(pid)
    engine = create_engine(server.start())
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("select value from kept")).scalar_one() == 42
    finally:
        engine.dispose()
        server.stop()


def connects(server: EmbeddedPostgres, password: str | None) -> bool:
    """Whether a client on loopback gets in as the superuser with this password (None: none sent)."""
    try:
        psycopg.connect(
            host="127.0.0.1",
            port=server.port,
            user="postgres",
            dbname="amyplant",
            password=password or "",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError:
        return False
    return True


def trusting_rules(server: EmbeddedPostgres) -> list[str]:
    rules = (server.pgdata / "pg_hba.conf").read_text().splitlines()
    return [rule for rule in rules if rule.strip() and not rule.lstrip().startswith("#") and "trust" in rule]


def test_embedded_postgres_lets_in_only_clients_with_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    try:
        assert trusting_rules(server) == []
        assert not connects(server, None)
        assert not connects(server, "a-wrong-password-of-some-length")
        assert connects(server, server.password)
        # Its generated password is kept beside the data, readable by its owner only.
        stored = tmp_path / "pg" / "superuser-password"
        assert stored.read_text() == server.password
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    finally:
        server.stop()


def test_a_cluster_that_trusted_every_connection_gets_a_password_at_its_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    old = EmbeddedPostgres(tmp_path / "pg")
    old.start()
    old.stop()
    # What an earlier version left: every connection trusted.
    hba = old.pgdata / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
    password = "a-new-generated-password-0123456789"
    server = EmbeddedPostgres(tmp_path / "pg", password=password)
    server.start()
    try:
        assert trusting_rules(server) == []
        assert not connects(server, None)
        assert connects(server, password)
    finally:
        server.stop()
