"""The one-machine supervisor: embedded Redis/Postgres, gallery, workers and capture processes."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import httpx

from amyplant.embedded.stack import EmbeddedStack
from amyplant.supervisor.children import Child, stop_children
from amyplant.supervisor.secrets_file import EMBEDDED_POSTGRES_PASSWORD, load_or_create_secrets
from amyplant_capture.cameras import CameraConfig
from amyplant_config.cores import worker_threads
from amyplant_config.discovery import StackRecord
from amyplant_config.settings import UpSettings
from amyplant_store.database import migrate

logger = logging.getLogger(__name__)
RESTART_LIMIT = 5


class Supervisor:
    """run() starts everything and blocks until stop() (or SIGTERM/SIGINT); then stops every part."""

    def __init__(
        self,
        settings: UpSettings,
        *,
        cameras: list[CameraConfig],
        cameras_file: Path | None,
        gallery_port: int,
        build_models: bool = True,
    ) -> None:
        self.settings = settings
        self.state_dir = settings.common.state_dir.resolve()
        self.cameras = cameras
        self.cameras_file = cameras_file
        self.gallery_port = gallery_port
        self.build_models = build_models
        self.stack = EmbeddedStack(settings.common.model_copy(update={"state_dir": self.state_dir}))
        self.children: list[Child] = []
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        self.stop()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._start()
            self._announce()
            self._watch()
        finally:
            self._shutdown()
        return 0

    def _start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.build_models:
            from amyplant_modelbuild.build import build_missing

            build_missing(self.settings.common.resolved_model_repository)
        secrets = load_or_create_secrets(self.state_dir)
        redis_url, database_url = self.stack.start(postgres_password=secrets[EMBEDDED_POSTGRES_PASSWORD])
        migrate(database_url)
        environment = self._child_environment(redis_url, database_url, secrets)
        self.children = self._plan_children(environment)
        for child in self.children:
            child.start()
        StackRecord(
            supervisor_pid=os.getpid(),
            redis_url=redis_url,
            database_url=database_url,
            gallery_url=self.gallery_url,
            children={c.name: c.pid or 0 for c in self.children},
            embedded_pids=self.stack.pids(),
        ).write(self.state_dir)

    @property
    def gallery_url(self) -> str:
        return f"http://127.0.0.1:{self.gallery_port}"

    def _child_environment(
        self, redis_url: str, database_url: str, secrets: dict[str, str]
    ) -> dict[str, str]:
        environment = dict(os.environ)
        # The services reach Postgres through the URL; the superuser password itself stays here.
        environment.update(
            {name: value for name, value in secrets.items() if name != EMBEDDED_POSTGRES_PASSWORD}
        )
        environment.update(
            {
                "AMYPLANT_STATE_DIR": str(self.state_dir),
                "AMYPLANT_REDIS_URL": redis_url,
                "AMYPLANT_DATABASE_URL": database_url,
                "AMYPLANT_MODEL_REPOSITORY": str(self.settings.common.resolved_model_repository.resolve()),
                "AMYPLANT_GALLERY_PORT": str(self.gallery_port),
            }
        )
        # Each worker gets its share of the cores: N processes each spreading over every core would make
        # TensorFlow's thread pools fight (a second worker added 27% instead of nearly doubling).
        environment.setdefault("AMYPLANT_WORKER_THREADS", str(worker_threads(self.settings.workers)))
        return environment

    def _plan_children(self, environment: dict[str, str]) -> list[Child]:
        logs = self.state_dir / "logs"
        children = [Child("gallery", "amyplant_gallery.cli", [], environment, logs / "gallery.log")]
        children += [
            Child(
                f"worker-{index}",
                "amyplant_inference.cli",
                ["--name", f"worker-{index}@%h"],
                environment,
                logs / f"worker-{index}.log",
            )
            for index in range(1, self.settings.workers + 1)
        ]
        for camera in self.cameras:
            arguments = ["--camera", camera.id]
            if self.cameras_file is not None:
                arguments += ["--cameras-file", str(self.cameras_file.resolve())]
            else:
                arguments += ["--source", camera.source]
            children.append(
                Child(
                    f"capture-{camera.id}",
                    "amyplant_capture.cli",
                    arguments,
                    environment,
                    logs / f"capture-{camera.id}.log",
                )
            )
        return children

    def _announce(self) -> None:
        """Print where to open the system once /health is ok (workers answer after warming their models)."""
        deadline = time.monotonic() + 180
        health: dict[str, object] = {}
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                health = httpx.get(f"{self.gallery_url}/health", timeout=5).json()
            except (httpx.HTTPError, ValueError):
                health = {}
            if health.get("status") == "ok":
                break
            self._stopping.wait(1.0)
        if self._stopping.is_set():
            return
        site, docs = self.gallery_url, f"{self.gallery_url}/docs"
        print(f"amyplant is up: open {site} (the web site; API docs {docs})", flush=True)
        print(f"health: {health.get('status', 'no answer')}; logs in {self.state_dir / 'logs'}", flush=True)
        key_file = self.state_dir / "admin-key.txt"
        if key_file.exists():
            print(f"the first admin API key is in {key_file} (readable by you only)", flush=True)
        print("Ctrl-C stops everything.", flush=True)

    def _watch(self) -> None:
        """Restart children that die unexpectedly (with backoff), until asked to stop."""
        while not self._stopping.wait(0.5):
            for child in self.children:
                code = child.exited()
                if code is None or (child.name.startswith("capture-") and code == 0):
                    continue
                now = time.monotonic()
                if child.next_restart_at == 0.0:
                    child.history.append(code)
                    child.next_restart_at = now + min(2.0**child.restarts, 30.0)
                    logger.warning("%s exited with %s", child.name, code)
                elif now >= child.next_restart_at and child.restarts < RESTART_LIMIT:
                    child.restarts += 1
                    child.next_restart_at = 0.0
                    child.start()

    def _shutdown(self) -> None:
        stop_children(self.children, timeout_s=self.settings.stop_timeout_s)
        self.stack.stop()
        StackRecord.path(self.state_dir).unlink(missing_ok=True)
