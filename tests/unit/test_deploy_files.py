"""Deployment files: compose and Kubernetes manifests validate and agree with the settings and the CLI."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from amyplant.cli import build_parser
from amyplant.core import settings as settings_module
from amyplant.core.settings import KNOWN_INSECURE_SECRETS
from amyplant.services.capture.cameras import load_cameras

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
K8S_DIR = ROOT / "k8s"
KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
SECRET_EXAMPLE = K8S_DIR / "secret.example.yaml"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "DaemonSet")
# Settings that hold secrets: they may appear in deploy files only as placeholders or references.
SECRET_NAMES = (
    "AMYPLANT_GALLERY_API_KEY_PEPPER",
    "AMYPLANT_WORKER_WEBHOOK_SECRET",
    "AMYPLANT_GALLERY_BOOTSTRAP_ADMIN_KEY",
    "AMYPLANT_DATABASE_URL",
    "POSTGRES_PASSWORD",
)
TFSERVING_FLAGS = (
    "--model_config_file=/models/models.config",
    "--model_config_file_poll_wait_seconds=",
    "--file_system_poll_wait_seconds=",
)


def setting_env_names() -> set[str]:
    """Every environment variable the settings classes read: their env_prefix + each plain field."""
    names: set[str] = set()
    for candidate in vars(settings_module).values():
        if not (isinstance(candidate, type) and issubclass(candidate, BaseSettings)):
            continue
        prefix = candidate.model_config.get("env_prefix", "")
        if not prefix:
            continue
        for field_name, field in candidate.model_fields.items():
            # A nested settings object (`common`) reads its own prefix, not <prefix>COMMON.
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
                continue
            names.add(f"{prefix}{field.alias or field_name}".upper())
    return names


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def k8s_files() -> list[Path]:
    return sorted(path for path in K8S_DIR.glob("*.yaml") if path != KUSTOMIZATION)


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in k8s_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield path, document


def k8s_objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for _, document in k8s_documents():
        if document["kind"] in WORKLOAD_KINDS:
            yield f"{document['kind']}/{document['metadata']['name']}", document["spec"]["template"]["spec"]


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def amyplant_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for workload, pod in pod_specs():
        for container in pod["containers"]:
            if container["image"].split(":")[0].endswith("amyplant-security"):
                yield f"{workload}/{container['name']}", container


def compose_environment(service: dict[str, Any]) -> dict[str, Any]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    return dict(environment)


def env_example_names() -> dict[str, str]:
    """KEY=VALUE lines of .env.example, including the commented-out optional ones."""
    found = re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    return dict(found)


def run_tool(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


# --- external validators ---------------------------------------------------------------------------


def test_compose_file_validates_with_docker_compose() -> None:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.skip("docker-compose (v1) is not installed: apt-get install docker-compose")
    # The secrets are required variables; .env.example provides every one of them as a placeholder.
    result = run_tool([executable, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.skip("docker-compose (v1) is not installed: apt-get install docker-compose")
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    result = run_tool([executable, "--env-file", str(empty_env), "-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "API_KEY_PEPPER" in result.stderr


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    if importlib.util.find_spec("kubernetes_validate") is None:
        pytest.skip("kubernetes-validate is not installed: pip install kubernetes-validate")
    # kustomization.yaml is kustomize's file, not a Kubernetes kind, so it has no schema.
    files = [str(path) for path in k8s_files()]
    result = run_tool([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", *files])
    assert result.returncode == 0, result.stdout + result.stderr


# --- environment variables and secrets -------------------------------------------------------------


def test_every_amyplant_variable_in_compose_is_a_settings_field() -> None:
    valid = setting_env_names()
    named = {name for service in load_compose()["services"].values() for name in compose_environment(service)}
    named |= set(re.findall(r"\$\{(AMYPLANT_[A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    named |= set(env_example_names())
    unknown = sorted(name for name in named if name.startswith("AMYPLANT_") and name not in valid)
    assert not unknown, f"not settings fields: {unknown}"
    assert "AMYPLANT_MODEL_SERVER" in named


def test_every_amyplant_variable_in_k8s_is_a_settings_field() -> None:
    valid = setting_env_names()
    named: set[str] = set()
    for _, document in k8s_documents():
        if document["kind"] in ("ConfigMap", "Secret"):
            named |= set(document.get("data") or {}) | set(document.get("stringData") or {})
    for _, pod in pod_specs():
        named |= {env["name"] for container in all_containers(pod) for env in container.get("env", [])}
    unknown = sorted(name for name in named if name.startswith("AMYPLANT_") and name not in valid)
    assert not unknown, f"not settings fields: {unknown}"
    assert "AMYPLANT_MODEL_SERVER" in named


def test_compose_holds_no_secret_values() -> None:
    for name, service in load_compose()["services"].items():
        for key, value in compose_environment(service).items():
            if key in SECRET_NAMES and value is not None:
                assert "${" in str(value), f"{name}: {key} must come from .env, not be written here"


def test_example_secrets_are_placeholders_the_services_refuse() -> None:
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    for key, value in secret["stringData"].items():
        # The database URL embeds the password placeholder.
        assert value in KNOWN_INSECURE_SECRETS or ":changeme@" in value, f"{key} looks like a real secret"
    for key, value in env_example_names().items():
        if key in SECRET_NAMES:
            assert value in KNOWN_INSECURE_SECRETS, f".env.example: {key} looks like a real secret"


def test_k8s_references_only_existing_secret_keys_and_configmaps() -> None:
    secret_keys = set(yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"])
    config_maps = set(k8s_objects("ConfigMap"))
    for workload, pod in pod_specs():
        for container in all_containers(pod):
            for env in container.get("env", []):
                reference = (env.get("valueFrom") or {}).get("secretKeyRef")
                if reference and not reference.get("optional"):
                    assert reference["name"] == "amyplant-secrets", workload
                    assert reference["key"] in secret_keys, f"{workload}: {reference['key']} is missing"
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, workload
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, workload


# --- structure -------------------------------------------------------------------------------------


def test_worker_hpa_targets_the_worker_deployment() -> None:
    hpa = k8s_objects("HorizontalPodAutoscaler")["worker"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    deployment = k8s_objects("Deployment")[target["name"]]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"
    # The HPA owns the replica count; a fixed one in the Deployment would be reset by every apply.
    assert "replicas" not in deployment["spec"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "listName: frames" in (K8S_DIR / "worker.yaml").read_text(), "the KEDA alternative is documented"


def test_every_container_has_resource_requests_and_limits() -> None:
    for workload, pod in pod_specs():
        for container in all_containers(pod):
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(section, {})), f"{workload}/{container['name']}"


def test_services_select_pods_and_name_their_ports() -> None:
    templates = [doc["spec"]["template"] for _, doc in k8s_documents() if doc["kind"] in WORKLOAD_KINDS]
    workloads = [(template["metadata"]["labels"], template["spec"]) for template in templates]
    for name, service in k8s_objects("Service").items():
        selector = service["spec"]["selector"]
        matches = [pod for labels, pod in workloads if selector.items() <= labels.items()]
        assert matches, f"service {name} selects no pod"
        containers = [container for pod in matches for container in pod["containers"]]
        port_names = {port.get("name") for container in containers for port in container.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"service {name}: no container port {port['targetPort']}"


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    resources = yaml.safe_load(KUSTOMIZATION.read_text())["resources"]
    expected = {path.name for path in k8s_files()} - {SECRET_EXAMPLE.name}
    assert set(resources) == expected
    assert len(resources) == len(set(resources))


def test_amyplant_commands_are_real_cli_subcommands() -> None:
    parser = build_parser()
    services = load_compose()["services"].items()
    commands = [
        (f"compose {name}", service["command"])
        for name, service in services
        if str(service.get("image", "")).startswith("amyplant-security")
    ]
    commands += [(name, container["args"]) for name, container in amyplant_containers()]
    assert len(commands) >= 10
    for where, arguments in commands:
        try:
            parser.parse_args(arguments)
        except SystemExit:
            pytest.fail(f"{where}: `amyplant {' '.join(arguments)}` is not a valid command")


def test_models_are_built_into_the_repository_tfserving_polls() -> None:
    services = load_compose()["services"]
    assert services["models-init"]["command"][:4] == ["models", "build", "--repo", "/models"]
    assert services["tfserving"]["depends_on"]["models-init"]["condition"] == "service_completed_successfully"
    job = k8s_objects("Job")["models-build"]["spec"]["template"]["spec"]["containers"][0]
    assert job["args"][:4] == ["models", "build", "--repo", "/models"]
    k8s_server = k8s_objects("Deployment")["tfserving"]["spec"]["template"]["spec"]["containers"][0]
    for flags in (services["tfserving"]["command"], k8s_server["args"]):
        for flag in TFSERVING_FLAGS:
            assert any(argument.startswith(flag) for argument in flags), flag
    assert services["tfserving"]["image"] == k8s_server["image"]


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
    assert "/health" in " ".join(services["gallery"]["healthcheck"]["test"])
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")


def test_example_camera_files_load(tmp_path: Path) -> None:
    assert load_cameras(ROOT / "config" / "cameras.example.yaml")
    configured = tmp_path / "cameras.yaml"
    configured.write_text(k8s_objects("ConfigMap")["amyplant-cameras"]["data"]["cameras.yaml"])
    assert load_cameras(configured)


def test_image_and_pods_run_as_non_root_users() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, flags=re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    entrypoint = re.findall(r"^ENTRYPOINT\s+(.+)$", dockerfile, flags=re.MULTILINE)[-1]
    assert yaml.safe_load(entrypoint)[-1] == "amyplant"
    for _, container in amyplant_containers():
        assert container["image"].endswith(f":{version('amyplant-security')}"), container["image"]
    for workload, pod in pod_specs():
        # What the namespace's Pod Security "restricted" level demands of every pod and container.
        assert pod["securityContext"]["runAsNonRoot"] is True, workload
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", workload
        for container in all_containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, f"{workload}/{container['name']}"
            assert context["capabilities"]["drop"] == ["ALL"], f"{workload}/{container['name']}"
