"""Install each service alone into a fresh virtual environment, start its entry point, measure its size.

    python bench/service_sizes.py [--workdir DIR] [--keep] [--json bench/results/service_sizes.json]

For every service: `python -m venv`, then `pip install -c constraints.txt ./services/<name>` (nothing
else: the service's own pyproject pulls in the shared libraries it names), then `<entry point> --help`,
then the installed size of the venv's site-packages (what `du -sh` reports) and the largest
distributions in it. docs/DEPLOY.md quotes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {
    "capture": "amyplant-capture",
    "inference": "amyplant-worker",
    "gallery": "amyplant-gallery",
    "trainer": "amyplant-trainer",
}


def tree_bytes(folder: Path) -> int:
    """Bytes on disk under a folder, as du counts them (allocated blocks)."""
    total = 0
    for directory, _, files in os.walk(folder):
        for name in files:
            path = Path(directory, name)
            if not path.is_symlink():
                total += path.stat().st_blocks * 512
    return total


def largest_distributions(site_packages: Path, count: int = 5) -> list[tuple[str, int]]:
    """The heaviest top-level folders of site-packages (a distribution's package, roughly)."""
    sizes = [(entry.name, tree_bytes(entry)) for entry in site_packages.iterdir() if entry.is_dir()]
    return sorted(sizes, key=lambda item: item[1], reverse=True)[:count]


def measure(service: str, workdir: Path) -> dict[str, object]:
    venv = workdir / f"venv-{service}"
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    started = time.monotonic()
    install = subprocess.run(
        [*pip, "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(ROOT / "services" / service)],
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    if install.returncode != 0:
        raise SystemExit(f"{service}: pip install failed:\n{install.stdout}{install.stderr}")
    install_s = time.monotonic() - started
    help_run = subprocess.run(
        [str(venv / "bin" / ENTRY_POINTS[service]), "--help"], capture_output=True, text=True, timeout=300
    )
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    installed = subprocess.run(
        [*pip, "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    names = sorted(item["name"].lower() for item in json.loads(installed))
    return {
        "service": service,
        "entry_point": ENTRY_POINTS[service],
        "help_exit_code": help_run.returncode,
        "site_packages_mib": round(tree_bytes(site_packages) / 2**20, 1),
        "distributions": len(names),
        "has_tensorflow": "tensorflow" in names,
        "has_sqlalchemy": "sqlalchemy" in names,
        "has_albumentations": "albumentations" in names,
        "largest_mib": [
            (name, round(size / 2**20, 1)) for name, size in largest_distributions(site_packages)
        ],
        "install_s": round(install_s, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, help="where the venvs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the venvs afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--service",
        action="append",
        choices=list(ENTRY_POINTS),
        help="only this one (repeatable; default: all)",
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="amyplant-sizes-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for service in args.service or list(ENTRY_POINTS):
            result = measure(service, workdir)
            results.append(result)
            print(
                f"{service:<10} {result['site_packages_mib']:>8} MiB  "
                f"{result['distributions']:>3} distributions  "
                f"--help exit {result['help_exit_code']}  tensorflow {result['has_tensorflow']}  "
                f"sqlalchemy {result['has_sqlalchemy']}  albumentations {result['has_albumentations']}  "
                f"install {result['install_s']} s",
                flush=True,
            )
            print(f"           largest: {result['largest_mib']}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"python": sys.version.split()[0], "services": results}, indent=2))
    return 0 if all(result["help_exit_code"] == 0 for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
