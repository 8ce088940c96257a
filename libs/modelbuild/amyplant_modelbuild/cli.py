"""`amyplant-models ...` (and `amyplant models ...`): build, list, check and roll back the models."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amyplant_config.command import run_command
from amyplant_faces.models import repository
from amyplant_faces.models.spec import MODEL_NAMES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `models` command and its subcommands; each sets `func(args) -> int`."""
    models = subparsers.add_parser("models", help="build, list, check and roll back the face models")
    add_commands(models.add_subparsers(dest="models_command", required=True, metavar="COMMAND"))


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """build, list, check and rollback, each setting `func(args) -> int`."""
    build = commands.add_parser(
        "build", help="convert the pretrained models that are not in the repository yet"
    )
    _add_repo(build)
    _add_data_dir(build)
    build.add_argument(
        "--served-root",
        default=str(repository.DEFAULT_SERVED_ROOT),
        help="the repository's path as TensorFlow Serving sees it, for models.config (default: /models)",
    )
    build.set_defaults(func=run_build)

    listing = commands.add_parser("list", help="show each model's served and retired versions")
    _add_repo(listing)
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(func=run_list)

    check = commands.add_parser(
        "check", help="measure the served models against the original implementations"
    )
    _add_repo(check)
    _add_data_dir(check)
    check.add_argument("--json", action="store_true", help="print one JSON object keyed by model name")
    check.set_defaults(func=run_check)

    rollback = commands.add_parser(
        "rollback", help="retire a model's newest version so the previous one serves"
    )
    rollback.add_argument("model", choices=MODEL_NAMES)
    _add_repo(rollback)
    rollback.set_defaults(func=run_rollback)


def _add_repo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo",
        type=Path,
        default=None,
        help="model repository (default: AMYPLANT_MODEL_REPOSITORY, else <state_dir>/models)",
    )


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="photos for the parity checks (default: AMYPLANT_SHARED_DATA, else images shipped in packages)",
    )


def _repo(args: argparse.Namespace) -> Path:
    if args.repo is not None:
        return Path(args.repo)
    from amyplant_config.settings import CommonSettings

    return CommonSettings().resolved_model_repository


def _data_dir(args: argparse.Namespace) -> Path | None:
    from amyplant_modelbuild.build import default_data_dir

    return Path(args.data_dir) if args.data_dir is not None else default_data_dir()


def run_build(args: argparse.Namespace) -> int:
    from amyplant_modelbuild.build import build_missing

    repo = _repo(args)
    outcomes = build_missing(repo, data_dir=_data_dir(args), served_root=args.served_root)
    for outcome in outcomes:
        verb = "built" if outcome.built else "already present:"
        diff = (outcome.check or {}).get("max_abs_diff")
        print(f"{outcome.name}: {verb} version {outcome.version} (max_abs_diff {diff}) at {outcome.path}")
    print(f"wrote {repo / repository.CONFIG_NAME}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    repo = _repo(args)
    listing: dict[str, dict[str, Any]] = {}
    for name in MODEL_NAMES:
        versions = repository.list_versions(repo, name=name)
        entries = []
        for version in versions:
            path = repository.version_dir(repo, name=name, version=version)
            manifest = repository.read_manifest(path) if repository.is_valid_version(path) else {}
            entries.append(
                {
                    "version": version,
                    "valid": bool(manifest),
                    "created_at": manifest.get("created_at"),
                    "max_abs_diff": (manifest.get("check") or {}).get("max_abs_diff"),
                }
            )
        listing[name] = {
            "serving": versions[-1] if versions else None,
            "versions": entries,
            "retired": repository.retired_versions(repo, name=name),
        }
    if args.json:
        print(json.dumps(listing, sort_keys=True))
        return 0
    print(f"repository: {repo}")
    for name, entry in listing.items():
        served = ", ".join(
            f"{v['version']}" + ("" if v["valid"] else " (invalid)") for v in entry["versions"]
        )
        retired = ", ".join(str(v) for v in entry["retired"]) or "-"
        print(f"{name}: serving {entry['serving'] or '-'}; versions: {served or '-'}; retired: {retired}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from amyplant_modelbuild.build import check_repository

    results = check_repository(_repo(args), _data_dir(args))
    if args.json:
        print(json.dumps(results, sort_keys=True, default=repository.json_default))
    else:
        for name, figures in results.items():
            if "error" in figures:
                print(f"{name}: ERROR {figures['error']}")
            else:
                print(f"{name}: version {figures['version']} max_abs_diff {figures['max_abs_diff']}")
    return 1 if any("error" in figures for figures in results.values()) else 0


def run_rollback(args: argparse.Namespace) -> int:
    repo = _repo(args)
    try:
        retired, serving = repository.rollback(repo, name=args.model)
    except repository.RepositoryError as error:
        print(f"rollback refused: {error}", file=sys.stderr)
        return 1
    print(
        f"{args.model}: version {retired} retired to "
        f"{repository.model_dir(repo, name=args.model) / repository.RETIRED_DIR / str(retired)}; "
        f"version {serving} serves once the runtimes next poll the repository"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="amyplant-models", description=__doc__)
    add_commands(parser.add_subparsers(dest="models_command", required=True, metavar="COMMAND"))
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
