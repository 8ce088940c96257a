#!/usr/bin/env python3
"""Prints the third-party requirements of one project of this repository, with those of the local
libraries it depends on, one per line: the input of the image's dependency layer (see the Dockerfile).

    python docker/third_party_requirements.py services/capture > /tmp/requirements.txt

The image build installs these before it copies any source, in a layer that only the pyproject files and
constraints.txt invalidate, so that editing code does not reinstall TensorFlow. Local libraries (direct
references such as "amyplant-config @ {root:parent:parent:uri}/libs/config") are followed, not printed:
pip installs them from the copied source in the next layer. Standard library only (tomllib).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The distribution name and its extras at the start of a requirement string (PEP 508).
REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def normalise(name: str) -> str:
    """PEP 503 name normalisation: Face_Recognition.models and face-recognition-models are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_project(directory: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
    return project


def local_projects(root: Path = ROOT) -> dict[str, Path]:
    """Normalised distribution name -> directory, for every library and service of the repository."""
    found: dict[str, Path] = {}
    for pyproject in sorted([*root.glob("libs/*/pyproject.toml"), *root.glob("services/*/pyproject.toml")]):
        found[normalise(read_project(pyproject.parent)["name"])] = pyproject.parent
    return found


def third_party_requirements(project: Path, root: Path = ROOT) -> list[str]:
    """The requirement strings of `project` and its local libraries that name no local project."""
    local = local_projects(root)
    requirements: list[str] = []
    visited: set[tuple[Path, frozenset[str]]] = set()

    def visit(directory: Path, extras: frozenset[str]) -> None:
        if (directory.resolve(), extras) in visited:
            return
        visited.add((directory.resolve(), extras))
        data = read_project(directory)
        wanted = list(data.get("dependencies", []))
        for extra in sorted(extras):
            wanted += data.get("optional-dependencies", {}).get(extra, [])
        for requirement in wanted:
            match = REQUIREMENT_NAME.match(requirement)
            if match is None:
                raise SystemExit(f"{directory}/pyproject.toml: cannot read requirement {requirement!r}")
            name = normalise(match.group(1))
            if name in local:
                extras_named = (part.strip() for part in (match.group(2) or "").split(","))
                visit(local[name], frozenset(part for part in extras_named if part))
            elif requirement.strip() not in requirements:
                requirements.append(requirement.strip())

    visit(project, frozenset())
    return requirements


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: third_party_requirements.py PROJECT_DIRECTORY", file=sys.stderr)
        return 2
    for requirement in third_party_requirements(Path(argv[0])):
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
