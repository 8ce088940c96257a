"""`amyplant-worker` (and `amyplant worker`): one Celery inference worker process on the `frames` queue."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from amyplant_config.command import run_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="Celery node name")


def run(args: argparse.Namespace) -> int:
    from amyplant_config.settings import WorkerSettings
    from amyplant_inference.worker import InferenceWorker

    return InferenceWorker(WorkerSettings(), name=args.name).run()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser("worker", help="run one Celery inference worker")
    add_arguments(worker)
    worker.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="amyplant-worker", description=__doc__)
    add_arguments(parser)
    parser.set_defaults(func=run)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
