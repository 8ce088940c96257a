"""The `amyplant` command: one subcommand per service, plus the whole system (`up`) and its `status`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from amyplant.evaluation import cli as evaluation_cli
from amyplant_capture import cli as capture_cli
from amyplant_config.command import run_command
from amyplant_gallery import cli as gallery_cli
from amyplant_inference import cli as inference_cli
from amyplant_modelbuild import cli as models_cli
from amyplant_trainer import cli as trainer_cli


def run_up(args: argparse.Namespace) -> int:
    from amyplant.supervisor.up import Supervisor
    from amyplant_config.settings import CaptureSettings, UpSettings

    if args.cameras_file is None:
        args.cameras_file = CaptureSettings().cameras_file
    overrides = {"workers": args.workers} if args.workers is not None else {}
    settings = UpSettings(**overrides)
    supervisor = Supervisor(
        settings,
        cameras=capture_cli.cameras_from_args(args),
        cameras_file=args.cameras_file,
        gallery_port=args.port,
        build_models=not args.no_build_models,
    )
    return supervisor.run()


def run_status(args: argparse.Namespace) -> int:
    from amyplant.supervisor.status import collect_status
    from amyplant_config.settings import CommonSettings

    status = collect_status(CommonSettings().state_dir)
    if args.json:
        print(json.dumps(status, indent=2))
    elif not status["running"]:
        print(f"amyplant is not running (state dir {status['state_dir']})")
    else:
        print(f"amyplant is running: {status['gallery_url']} (supervisor pid {status['supervisor_pid']})")
        for name, process in status["processes"].items():
            print(f"  {name:<16} pid {process['pid']:<8} {'alive' if process['alive'] else 'DEAD'}")
        health = status["health"]
        print(f"  health: {health.get('status')}")
        for name, part in (health.get("parts") or {}).items():
            print(
                f"    {name:<10} {'ok' if part['ok'] else 'FAIL'} "
                f"{part.get('detail') or ''} {part.get('error') or ''}"
            )
    return 0 if status["running"] and status["health"].get("status") == "ok" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amyplant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole system on this machine")
    capture_cli.add_camera_arguments(up)
    up.add_argument("--workers", type=int, help="inference worker processes (default 2)")
    up.add_argument("--port", type=int, default=8080, help="gallery/web port on 127.0.0.1")
    up.add_argument("--no-build-models", action="store_true", help="do not build missing models first")
    up.set_defaults(func=run_up)

    status = commands.add_parser("status", help="report each part of a running `amyplant up`")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=run_status)

    capture_cli.register(commands)
    gallery_cli.register(commands)
    inference_cli.register(commands)
    models_cli.register(commands)
    evaluation_cli.register(commands)
    trainer_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
