"""Kubernetes manifests: the overlays render and validate, agree with the settings, the images and the
entry points, and wire autoscaling, disruption budgets, network policies, probes and start order."""

from __future__ import annotations

import importlib.util
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from amyplant_capture.cameras import load_cameras
from amyplant_config import settings as settings_module
from amyplant_config.settings import KNOWN_INSECURE_SECRETS
from tests.deploy.deploy_files import (
    DEPLOY_DOC,
    IMAGES,
    K8S_BASE,
    OVERLAYS,
    ROOT,
    SECRET_EXAMPLE,
    TFSERVING_FLAGS,
    TFSERVING_STATUS_URL,
    all_containers,
    amyplant_containers,
    base_documents,
    find_tool,
    image_of,
    load_documents,
    manifest_files,
    objects,
    overlay_documents,
    pod_specs,
    projected_secret_items,
    pyproject,
    rendered,
    rendered_text,
    run_tool,
    setting_env_names,
)

KEDA_API = "keda.sh/v1alpha1"
NAME_LABEL = "app.kubernetes.io/name"
# Who may connect to whom (NetworkPolicy ingress): the pods' app.kubernetes.io/name and the ports.
ALLOWED_INGRESS = {
    "redis": ({"capture", "worker", "gallery", "trainer"}, {6379}),
    "postgres": ({"gallery", "worker", "trainer", "migrate"}, {5432}),
    "tfserving": ({"worker", "gallery", "trainer"}, {8500, 8501}),
}


def deployment(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return objects("Deployment", documents)[name]


def container_of(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    container: dict[str, Any] = deployment(documents, name)["spec"]["template"]["spec"]["containers"][0]
    return container


def config_data() -> dict[str, str]:
    data: dict[str, str] = objects("ConfigMap", base_documents())["amyplant-config"]["data"]
    return data


def pod_labels(documents: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        doc["spec"]["template"]["metadata"]["labels"]
        for doc in documents
        if "template" in doc.get("spec", {})
    ]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions with In) against one pod's labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", expression
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


# --- rendering and schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_renders_the_base_and_its_own_objects(overlay: str) -> None:
    documents = rendered(overlay)
    expected = {(doc["kind"], doc["metadata"]["name"]) for doc in overlay_documents(overlay)}
    found = {(doc["kind"], doc["metadata"]["name"]) for doc in documents}
    assert found == expected
    assert all(doc["metadata"].get("namespace", "amyplant") == "amyplant" for doc in documents)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_rendered_overlay_validates_against_the_schemas(overlay: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("kubernetes_validate") is None:
        pytest.skip("kubernetes-validate is not installed: pip install kubernetes-validate")
    # KEDA's kinds have no built-in schema: test_keda_scaled_object_scales_the_workers checks them.
    core = [
        doc for doc in yaml.safe_load_all(rendered_text(overlay)) if doc and doc["apiVersion"] != KEDA_API
    ]
    output = tmp_path / f"{overlay}.yaml"
    output.write_text(yaml.safe_dump_all(core))
    result = run_tool([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", str(output)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_files_validate_against_the_schemas() -> None:
    """Each file on its own as well, so that a broken manifest fails even where kustomize is missing."""
    if importlib.util.find_spec("kubernetes_validate") is None:
        pytest.skip("kubernetes-validate is not installed: pip install kubernetes-validate")
    files = [
        str(path)
        for path in manifest_files()
        if all(document["apiVersion"] != KEDA_API for document in load_documents(path))
    ]
    result = run_tool([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomizations_list_every_manifest_but_the_secret_example() -> None:
    for directory in [K8S_BASE, *OVERLAYS.values()]:
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        resources = kustomization["resources"]
        own = {path.name for path in manifest_files() if path.parent == directory}
        assert {resource for resource in resources if not resource.startswith("..")} == own, directory
        assert len(resources) == len(set(resources))
        if directory != K8S_BASE:
            assert resources[0] == "../../base"
    base_resources = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())["resources"]
    assert SECRET_EXAMPLE.name not in base_resources


# --- autoscaling -----------------------------------------------------------------------------------------


def test_worker_hpa_overlay_targets_the_worker_deployment() -> None:
    documents = overlay_documents("hpa")
    hpa = objects("HorizontalPodAutoscaler", documents)["worker"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    worker = deployment(documents, target["name"])
    assert (
        image_of(worker["spec"]["template"]["spec"]["containers"][0]["image"]) == IMAGES["amyplant-inference"]
    )
    # The autoscaler owns the replica count; a fixed one in the Deployment would be reset by every apply.
    assert "replicas" not in worker["spec"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert not [doc for doc in documents if doc["apiVersion"] == KEDA_API]


def test_keda_scaled_object_scales_the_workers_on_the_frames_list() -> None:
    """KEDA's CRDs have no schema here: the fields that matter, by hand."""
    documents = overlay_documents("keda")
    scaled = [doc for doc in documents if doc["kind"] == "ScaledObject"]
    assert len(scaled) == 1
    spec = scaled[0]["spec"]
    assert scaled[0]["apiVersion"] == KEDA_API
    assert set(spec) <= {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod",
        "idleReplicaCount", "advanced", "fallback", "triggers",
    }  # fmt: skip
    target = spec["scaleTargetRef"]
    assert (
        target.get("kind", "Deployment") == "Deployment" and target.get("apiVersion", "apps/v1") == "apps/v1"
    )
    worker = deployment(documents, target["name"])
    assert "replicas" not in worker["spec"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    redis = [trigger for trigger in spec["triggers"] if trigger["type"] == "redis"]
    assert len(redis) == 1
    metadata = redis[0]["metadata"]
    assert metadata["listName"] == "frames"
    assert int(metadata["listLength"]) >= 1
    # Celery's Redis broker keeps the queue in the database of AMYPLANT_REDIS_URL, as a list named after it.
    redis_url = urllib.parse.urlsplit(config_data()["AMYPLANT_REDIS_URL"])
    assert int(metadata.get("databaseIndex", "0")) == int(redis_url.path.strip("/") or 0)
    # The address comes from the worker's environment (the ConfigMap), and is the broker's host:port.
    address_variable = metadata["addressFromEnv"]
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": "amyplant-config"}} in container["envFrom"]
    assert config_data()[address_variable] == f"{redis_url.hostname}:{redis_url.port or 6379}"
    for trigger in spec["triggers"]:
        assert trigger["type"] in ("redis", "cpu", "memory"), trigger
    # KEDA makes its own HPA: the overlay must not bring another one for the workers.
    assert "worker" not in objects("HorizontalPodAutoscaler", documents)
    # The KEDA operator must get through the default-deny policy to read the list length.
    keda_policies = [
        policy
        for policy in objects("NetworkPolicy", documents).values()
        if any(
            "namespaceSelector" in peer
            for rule in policy["spec"].get("ingress", [])
            for peer in rule.get("from", [])
        )
    ]
    assert keda_policies and keda_policies[0]["spec"]["podSelector"]["matchLabels"][NAME_LABEL] == "redis"


def test_tfserving_scales_on_its_own_autoscaler() -> None:
    documents = base_documents()
    hpa = objects("HorizontalPodAutoscaler", documents)["tfserving"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tfserving",
    }
    assert "replicas" not in deployment(documents, "tfserving")["spec"]
    assert hpa["spec"]["minReplicas"] >= 1
    # Beyond one node the replicas need the models volume ReadWriteMany: documented beside it.
    assert "ReadWriteMany" in (K8S_BASE / "tfserving.yaml").read_text()


def test_disruption_budgets_cover_gallery_workers_and_tfserving() -> None:
    documents = base_documents()
    budgets = objects("PodDisruptionBudget", documents)
    labels = pod_labels(documents)
    for name in ("gallery", "worker", "tfserving"):
        spec = budgets[name]["spec"]
        matched = [pod for pod in labels if selects(spec["selector"], pod)]
        assert matched and all(pod[NAME_LABEL] == name for pod in matched), name
        # maxUnavailable: minAvailable 1 on a one-replica Deployment would block every node drain.
        assert spec.get("maxUnavailable") == 1 and "minAvailable" not in spec, name


# --- network policies ------------------------------------------------------------------------------------


def test_ingress_is_denied_unless_a_policy_allows_it() -> None:
    policies = objects("NetworkPolicy", base_documents())
    default = policies["default-deny-ingress"]["spec"]
    assert default["podSelector"] == {} and default["policyTypes"] == ["Ingress"] and "ingress" not in default


def test_network_policies_let_only_what_must_talk_talk() -> None:
    documents = base_documents()
    policies = list(objects("NetworkPolicy", documents).values())
    labels = pod_labels(documents)
    apps = {pod[NAME_LABEL] for pod in labels}
    for target, (clients, ports) in ALLOWED_INGRESS.items():
        applying = [
            policy["spec"]
            for policy in policies
            if selects(policy["spec"]["podSelector"], {NAME_LABEL: target})
        ]
        rules = [rule for spec in applying for rule in spec.get("ingress", [])]
        # A rule without `from` would admit every pod (and every namespace).
        assert rules and all(rule.get("from") for rule in rules), target
        allowed = {
            app
            for rule in rules
            for peer in rule["from"]
            for app in apps
            if "namespaceSelector" not in peer and selects(peer["podSelector"], {NAME_LABEL: app})
        }
        assert allowed == clients, target
        assert {port["port"] for rule in rules for port in rule["ports"]} == ports, target
    assert {"capture", "worker", "gallery", "trainer", "migrate"} <= apps
    # The gallery: from anywhere, on its HTTP port only.
    gallery = next(policy["spec"] for policy in policies if policy["metadata"]["name"] == "gallery")
    assert gallery["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    # Nothing else is reachable: capture, workers, trainer and the Jobs take no connections.
    covered = {
        app
        for policy in policies
        for app in apps
        if policy["spec"].get("ingress") and selects(policy["spec"]["podSelector"], {NAME_LABEL: app})
    }
    assert covered == {"redis", "postgres", "tfserving", "gallery"}


# --- probes and start order ------------------------------------------------------------------------------


def test_services_have_liveness_and_readiness_probes() -> None:
    documents = base_documents()
    for name in ("gallery", "worker", "capture", "trainer", "tfserving", "redis"):
        container = container_of(documents, name)
        assert "livenessProbe" in container and "readinessProbe" in container, name
    data = config_data()
    for name, variable in (
        ("worker", "AMYPLANT_WORKER_METRICS_PORT"),
        ("capture", "AMYPLANT_CAPTURE_METRICS_PORT"),
    ):
        container = container_of(documents, name)
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        # The exporter's port is where the liveness probe asks, and it listens on every address.
        assert ports["metrics"] == int(data[variable]), name
        assert data[variable.replace("_PORT", "_HOST")] == "0.0.0.0"
        assert container["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}, name
    trainer = container_of(documents, "trainer")
    assert trainer["livenessProbe"]["exec"]["command"] == ["amyplant-probe", "--process", "amyplant-trainer"]


def test_migration_job_runs_before_the_gallery_and_workers() -> None:
    documents = base_documents()
    job = objects("Job", documents)["migrate"]["spec"]["template"]["spec"]
    container = job["containers"][0]
    assert image_of(container["image"]) == IMAGES["amyplant-gallery"]
    assert container["args"] == ["migrate"] and "command" not in container
    assert job["restartPolicy"] == "Never"
    for name in ("gallery", "worker"):
        pod = deployment(documents, name)["spec"]["template"]["spec"]
        own_image = pod["containers"][0]["image"]
        waits = {init["name"]: init for init in pod["initContainers"]}
        # The waits run in the pod's own image: it knows the schema revision it needs, and has the probe.
        assert {init["image"] for init in waits.values()} == {own_image}, name
        assert waits["wait-for-schema"]["command"] == ["amyplant-probe", "--schema", "--wait"], name
        tfserving = waits["wait-for-tfserving"]["command"]
        assert tfserving[:3] == ["amyplant-probe", "--url", TFSERVING_STATUS_URL], name
        assert tfserving[3:5] == ["--contains", "AVAILABLE"] and "--wait" in tfserving, name
        # Waiting for the schema reads the database: the init container needs the password file too.
        mounted = {mount["name"] for mount in waits["wait-for-schema"]["volumeMounts"]}
        assert "secrets" in mounted, name


def test_tfserving_readiness_is_the_compose_healthcheck() -> None:
    """The same bash /dev/tcp check as docker-compose.yml (tested there against a fake server)."""
    container = container_of(base_documents(), "tfserving")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert (
        container["readinessProbe"]["exec"]["command"]
        == compose["services"]["tfserving"]["healthcheck"]["test"][1:]
    )


def test_models_are_built_into_the_repository_tfserving_polls() -> None:
    documents = base_documents()
    job = objects("Job", documents)["models-build"]["spec"]["template"]["spec"]["containers"][0]
    assert image_of(job["image"]) == IMAGES["amyplant-models"]
    assert job["args"][:3] == ["build", "--repo", "/models"]
    server = container_of(documents, "tfserving")
    for flag in TFSERVING_FLAGS:
        assert any(argument.startswith(flag) for argument in server["args"]), flag


def test_models_volume_access_mode_is_documented() -> None:
    pvc = objects("PersistentVolumeClaim", base_documents())["models"]
    assert pvc["spec"]["accessModes"] in (["ReadWriteOnce"], ["ReadWriteMany"])
    for text in ((K8S_BASE / "models-pvc.yaml").read_text(), DEPLOY_DOC.read_text()):
        assert "ReadWriteOnce" in text and "ReadWriteMany" in text


def test_trainer_is_documented_as_it_is() -> None:
    text = (K8S_BASE / "trainer.yaml").read_text()
    assert "not written yet" not in text.lower()
    assert "amyplant-trainer" in text and "scale deployment/trainer" in text
    assert objects("Deployment", base_documents())["trainer"]["spec"]["replicas"] == 0


# --- settings, secrets and references --------------------------------------------------------------------


def test_every_amyplant_variable_in_k8s_is_a_settings_field() -> None:
    valid = setting_env_names(settings_module)
    named: set[str] = set()
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    named |= set(secret["stringData"]) | set(
        re.findall(r"#\s*(AMYPLANT_[A-Z0-9_]+):", SECRET_EXAMPLE.read_text())
    )
    documents = base_documents()
    for document in documents:
        if document["kind"] == "ConfigMap":
            named |= set(document.get("data") or {})
    for _, pod in pod_specs(documents):
        named |= {env["name"] for container in all_containers(pod) for env in container.get("env", [])}
        named |= {path for _, path, _ in projected_secret_items(pod)}
    unknown = sorted(name for name in named if name.startswith("AMYPLANT_") and name not in valid)
    assert not unknown, f"not settings fields: {unknown}"
    assert "AMYPLANT_MODEL_SERVER" in named and "AMYPLANT_DATABASE_PASSWORD" in named


def test_example_secrets_are_placeholders_the_services_refuse() -> None:
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    for key, value in secret["stringData"].items():
        assert value in KNOWN_INSECURE_SECRETS, f"{key} looks like a real secret"
    # Secrets are files, not environment variables, and the URL in the ConfigMap has no password.
    assert re.match(r"^[a-z+]+://[^:@/]+@", config_data()["AMYPLANT_DATABASE_URL"])


def test_k8s_references_only_existing_secret_keys_and_configmaps() -> None:
    secret_keys = set(yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"])
    documents = base_documents()
    config_maps = set(objects("ConfigMap", documents))
    for workload, pod in pod_specs(documents):
        for key, path, optional in projected_secret_items(pod):
            # Mounted under the setting's name, which is the file name the settings read.
            assert path == key, workload
            assert optional or key in secret_keys, f"{workload}: required key {key} is not in the Secret"
        mounted_secrets = {
            mount["mountPath"]
            for container in all_containers(pod)
            for mount in container.get("volumeMounts", [])
            if mount["name"] == "secrets"
        }
        assert mounted_secrets <= {"/run/secrets"}, workload
        for container in all_containers(pod):
            assert "env" not in container or all("secretKeyRef" not in str(env) for env in container["env"])
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, workload
            for env in container.get("env", []):
                if env["name"].endswith("_FILE"):
                    # Postgres' password file is one of the mounted keys.
                    assert env["value"].removeprefix("/run/secrets/") in secret_keys, workload
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, workload


def test_every_container_has_resource_requests_and_limits() -> None:
    for overlay in OVERLAYS:
        for workload, pod in pod_specs(overlay_documents(overlay)):
            for container in all_containers(pod):
                resources = container.get("resources", {})
                for section in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(resources.get(section, {})), (
                        f"{workload}/{container['name']}"
                    )


def test_services_select_pods_and_name_their_ports() -> None:
    documents = base_documents()
    templates = [doc["spec"]["template"] for doc in documents if "template" in doc.get("spec", {})]
    for name, service in objects("Service", documents).items():
        selector = service["spec"]["selector"]
        matches = [
            template["spec"]
            for template in templates
            if selects({"matchLabels": selector}, template["metadata"]["labels"])
        ]
        assert matches, f"service {name} selects no pod"
        containers = [container for pod in matches for container in pod["containers"]]
        port_names = {port.get("name") for container in containers for port in container.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"service {name}: no container port {port['targetPort']}"


def test_k8s_commands_are_arguments_of_the_entry_points() -> None:
    """Each amyplant container runs its image's entry point (or the probe); `--help` proves the arguments."""
    checked = 0
    for where, container in amyplant_containers(base_documents()):
        image = image_of(container["image"])
        assert image is not None
        if "command" in container:
            # Only the init containers replace the entry point, with the image's health probe.
            assert container["command"][0] == "amyplant-probe", where
            continue
        executable = find_tool(image.entry_point)
        if executable is None:
            continue
        arguments = container.get("args", [])
        result = run_tool([executable, *arguments, "--help"])
        assert result.returncode == 0, (
            f"{where}: `{image.entry_point} {' '.join(arguments)}`: {result.stderr}"
        )
        checked += 1
    if checked == 0:
        pytest.skip("no service entry point installed (amyplant-gallery, ...): run make install")


def test_image_and_pods_run_as_non_root_users() -> None:
    documents = base_documents()
    for where, container in amyplant_containers(documents):
        image = image_of(container["image"])
        assert image is not None
        # Tagged with the version of the project the image installs.
        assert container["image"] == f"{image.name}:{pyproject(image.project)['project']['version']}", where
    used = {
        image.name
        for _, container in amyplant_containers(documents)
        for image in [image_of(container["image"])]
        if image
    }
    assert used == set(IMAGES)
    for workload, pod in pod_specs(documents):
        # What the namespace's Pod Security "restricted" level demands of every pod and container.
        assert pod["securityContext"]["runAsNonRoot"] is True, workload
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", workload
        for container in all_containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, f"{workload}/{container['name']}"
            assert context["capabilities"]["drop"] == ["ALL"], f"{workload}/{container['name']}"
        if any(image_of(container["image"]) for container in pod["containers"]):
            assert pod["securityContext"]["runAsUser"] == 10001, workload


def test_example_camera_files_load(tmp_path: Path) -> None:
    assert load_cameras(ROOT / "config" / "cameras.example.yaml")
    configured = tmp_path / "cameras.yaml"
    configured.write_text(objects("ConfigMap", base_documents())["amyplant-cameras"]["data"]["cameras.yaml"])
    assert load_cameras(configured)
