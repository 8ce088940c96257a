"""The `amyplant` command: one subcommand per service, plus the whole system (`up`) and its `status`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _cameras_from_args(args: argparse.Namespace) -> list:  # type: ignore[type-arg]
    from amyplant.services.capture.cameras import CameraConfig, load_cameras

    cameras = load_cameras(args.cameras_file) if args.cameras_file else []
    for index, source in enumerate(args.source or []):
        cameras.append(CameraConfig(id=f"camera{index + 1}", source=source, loop=args.loop))
    if getattr(args, "camera", None):
        cameras = [camera for camera in cameras if camera.id == args.camera]
        if not cameras:
            raise SystemExit(f"amyplant: no camera with id {args.camera!r}")
    return cameras


def run_up(args: argparse.Namespace) -> int:
    from amyplant.core.settings import CaptureSettings, UpSettings
    from amyplant.supervisor.up import Supervisor

    if args.cameras_file is None:
        args.cameras_file = CaptureSettings().cameras_file
    overrides = {"workers": args.workers} if args.workers is not None else {}
    settings = UpSettings(**overrides)
    supervisor = Supervisor(
        settings,
        cameras=_cameras_from_args(args),
        cameras_file=args.cameras_file,
        gallery_port=args.port,
        build_models=not args.no_build_models,
    )
    return supervisor.run()


def run_status(args: argparse.Namespace) -> int:
    from amyplant.core.settings import CommonSettings
    from amyplant.supervisor.status import collect_status

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


def run_gallery(args: argparse.Namespace) -> int:
    import uvicorn

    from amyplant.core.settings import GallerySettings
    from amyplant.services.gallery.app import create_app

    settings = GallerySettings()
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", timeout_graceful_shutdown=3)
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from amyplant.core.settings import WorkerSettings
    from amyplant.services.inference.worker import InferenceWorker

    return InferenceWorker(WorkerSettings(), name=args.name).run()


def run_capture(args: argparse.Namespace) -> int:
    import signal

    from amyplant.core.settings import CaptureSettings
    from amyplant.services.capture.service import CaptureService, CollectOptions

    settings = CaptureSettings()
    if args.cameras_file is None and not args.source:
        args.cameras_file = settings.cameras_file
    collect = CollectOptions(args.collect, args.every) if args.collect is not None else None
    service = CaptureService(settings, _cameras_from_args(args), collect=collect)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    return service.run()


def _add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cameras-file", type=Path, help="YAML/TOML file listing the cameras")
    parser.add_argument(
        "--source", action="append", help="a camera source (repeatable): index, URL, file, folder"
    )
    parser.add_argument("--loop", action="store_true", help="replay file sources when they end")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amyplant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole system on this machine")
    _add_camera_arguments(up)
    up.add_argument("--workers", type=int, help="inference worker processes (default 2)")
    up.add_argument("--port", type=int, default=8080, help="gallery/web port on 127.0.0.1")
    up.add_argument("--no-build-models", action="store_true", help="do not build missing models first")
    up.set_defaults(func=run_up)

    status = commands.add_parser("status", help="report each part of a running `amyplant up`")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=run_status)

    gallery = commands.add_parser("gallery", help="run the gallery API")
    gallery.add_argument("--host")
    gallery.add_argument("--port", type=int)
    gallery.set_defaults(func=run_gallery)

    worker = commands.add_parser("worker", help="run one Celery inference worker")
    worker.add_argument("--name", help="Celery node name")
    worker.set_defaults(func=run_worker)

    capture = commands.add_parser("capture", help="run the capture service")
    _add_camera_arguments(capture)
    capture.add_argument("--camera", help="only this camera id of the cameras file")
    capture.add_argument(
        "--collect",
        type=Path,
        metavar="DIR",
        help="collection mode: save frames as JPEG into DIR for a dataset (none are queued)",
    )
    capture.add_argument(
        "--every",
        type=int,
        default=10,
        metavar="N",
        help="with --collect: save every Nth frame of each camera (default 10)",
    )
    capture.set_defaults(func=run_capture)

    from amyplant.models import cli as models_cli

    models_cli.register(commands)
    from amyplant.evaluation import cli as evaluation_cli

    evaluation_cli.register(commands)
    from amyplant.services.trainer import cli as trainer_cli

    trainer_cli.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # TensorFlow's C++ start-up chatter (no GPU found, CPU features) hides what the user needs to read.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _configure_logging()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ValidationError, ValueError, RuntimeError, OSError) as error:
        # Configuration and environment problems are explained in one line, not a traceback.
        print(f"amyplant {args.command}: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
