"""`amyplant-gallery` (and `amyplant gallery`): the gallery API; `migrate` brings the schema up to date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from amyplant_config.command import run_command

if TYPE_CHECKING:
    import uvicorn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)


def server_config(args: argparse.Namespace) -> uvicorn.Config:
    """uvicorn's configuration of the gallery; building it configures logging, so redaction comes after."""
    import uvicorn

    from amyplant_config.settings import GallerySettings
    from amyplant_gallery.app import create_app
    from amyplant_gallery.log_redaction import install_access_log_redaction

    settings = GallerySettings()
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=3,
        server_header=False,  # no "Server: uvicorn" telling which software (and so which flaws) answers
    )
    install_access_log_redaction()
    return config


def run(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.Server(server_config(args)).run()
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """Bring the database to the newest schema and exit: the migration Job of a cluster runs this."""
    from amyplant_config.discovery import resolve_urls
    from amyplant_config.settings import CommonSettings
    from amyplant_store.database import migrate

    # Only the database is needed: the job that runs this holds no API-key pepper.
    _, database_url = resolve_urls(CommonSettings())
    migrate(database_url)
    print("amyplant-gallery migrate: the schema is at the newest revision")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gallery = subparsers.add_parser("gallery", help="run the gallery API")
    add_arguments(gallery)
    gallery.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="amyplant-gallery", description=__doc__)
    add_arguments(parser)
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="command")
    migrate = actions.add_parser("migrate", help="apply the database migrations and exit")
    migrate.set_defaults(func=run_migrate)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
