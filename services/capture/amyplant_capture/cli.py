"""`amyplant-capture` (and `amyplant capture`): read the cameras and queue their frames for the workers."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from amyplant_capture.cameras import CameraConfig, load_cameras
from amyplant_config.command import run_command


def add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name cameras; `amyplant up` takes them too."""
    parser.add_argument("--cameras-file", type=Path, help="YAML/TOML file listing the cameras")
    parser.add_argument(
        "--source", action="append", help="a camera source (repeatable): index, URL, file, folder"
    )
    parser.add_argument("--loop", action="store_true", help="replay file sources when they end")


def cameras_from_args(args: argparse.Namespace) -> list[CameraConfig]:
    """The cameras of the cameras file and of each --source, narrowed to --camera when given."""
    cameras = load_cameras(args.cameras_file) if args.cameras_file else []
    for index, source in enumerate(args.source or []):
        cameras.append(CameraConfig(id=f"camera{index + 1}", source=source, loop=args.loop))
    if getattr(args, "camera", None):
        cameras = [camera for camera in cameras if camera.id == args.camera]
        if not cameras:
            raise SystemExit(f"amyplant: no camera with id {args.camera!r}")
    return cameras


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_camera_arguments(parser)
    parser.add_argument("--camera", help="only this camera id of the cameras file")
    parser.add_argument(
        "--collect",
        type=Path,
        metavar="DIR",
        help="collection mode: save frames as JPEG into DIR for a dataset (none are queued)",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=10,
        metavar="N",
        help="with --collect: save every Nth frame of each camera (default 10)",
    )


def run(args: argparse.Namespace) -> int:
    from amyplant_capture.service import CaptureService, CollectOptions
    from amyplant_config.settings import CaptureSettings

    settings = CaptureSettings()
    if args.cameras_file is None and not args.source:
        args.cameras_file = settings.cameras_file
    collect = CollectOptions(args.collect, args.every) if args.collect is not None else None
    service = CaptureService(settings, cameras_from_args(args), collect=collect)
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    return service.run()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    capture = subparsers.add_parser("capture", help="run the capture service")
    add_arguments(capture)
    capture.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="amyplant-capture", description=__doc__)
    add_arguments(parser)
    parser.set_defaults(func=run)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
