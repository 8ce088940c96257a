#!/usr/bin/env python3
"""amyplant-probe: the health checks of the amyplant images (Docker HEALTHCHECK, Kubernetes probes and
init containers). Installed as /usr/local/bin/amyplant-probe in every image; run by the image's Python.

Every check given must pass; exit 0 when they do, 1 when one fails (its reason on stderr):

    amyplant-probe --url http://127.0.0.1:8080/health                 GET answers 2xx
    amyplant-probe --url http://tfserving:8501/v1/models/face_detector --contains AVAILABLE --wait
    amyplant-probe --metrics-port-env AMYPLANT_WORKER_METRICS_PORT     the service's /metrics answers
    amyplant-probe --process amyplant-trainer                         the service's process is alive
    amyplant-probe --redis                                            AMYPLANT_REDIS_URL answers PING
    amyplant-probe --schema --wait                                    the database is at the newest migration

--wait repeats the checks every --interval seconds until they pass (for init containers that wait for
another part). Only --schema needs more than the standard library (amyplant-store, in the gallery and
inference images); the rest must stay stdlib-only so that a probe costs a few milliseconds.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

# A check returns None when it passes, else the reason it failed.
Check = Callable[[], "str | None"]


def check_url(url: str, contains: str | None, timeout_s: float) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = response.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return f"{url}: HTTP {error.code}"
    except (OSError, ValueError) as error:
        return f"{url}: {error}"
    if contains is not None and contains not in body:
        return f"{url}: answer does not contain {contains!r}"
    return None


def check_metrics(port_variable: str, timeout_s: float) -> str | None:
    port = os.environ.get(port_variable, "0").strip() or "0"
    if port == "0":
        # The exporter is off (port 0): nothing to ask; the process is alive, or tini would have exited.
        return None
    return check_url(f"http://127.0.0.1:{port}/metrics", None, timeout_s)


def live_process_names() -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process that is not a zombie, this one excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            # The state is the field after the parenthesised command name, which may hold spaces.
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append((int(entry.name), [part.decode("utf-8", "replace") for part in argv if part]))
    return found


def check_process(name: str) -> str | None:
    # A console script runs as `python /opt/amyplant/bin/<name>`: its name is argv[0] or argv[1].
    # tini's argv is `tini -- <name>`, so PID 1 does not count as the service being alive.
    for _, argv in live_process_names():
        if any(os.path.basename(argument) == name for argument in argv[:2]):
            return None
    return f"no live process {name!r}"


def redis_command(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded)


def check_redis(timeout_s: float) -> str | None:
    url = os.environ.get("AMYPLANT_REDIS_URL")
    if not url:
        return "AMYPLANT_REDIS_URL is not set"
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        return f"AMYPLANT_REDIS_URL: not a redis:// URL: {parsed.scheme}://{parsed.hostname}"
    commands: list[tuple[str, ...]] = [("PING",)]
    if parsed.password:
        credentials = [urllib.parse.unquote(parsed.password)]
        if parsed.username:
            credentials.insert(0, urllib.parse.unquote(parsed.username))
        commands.insert(0, ("AUTH", *credentials))
    where = f"redis at {parsed.hostname}:{parsed.port or 6379}"
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=timeout_s) as raw:
            connection = (
                ssl.create_default_context().wrap_socket(raw, server_hostname=parsed.hostname)
                if parsed.scheme == "rediss"
                else raw
            )
            connection.sendall(b"".join(redis_command(*command) for command in commands))
            # AUTH and PING each answer one line (+OK, +PONG or -ERROR ...).
            answer = b""
            while answer.count(b"\r\n") < len(commands):
                chunk = connection.recv(1024)
                if not chunk:
                    break
                answer += chunk
    except OSError as error:
        return f"{where}: {error}"
    replies = answer.split(b"\r\n")[: len(commands)]
    for reply in replies:
        if reply.startswith(b"-"):
            # Error replies (-NOAUTH, -WRONGPASS) are one line and hold no secret.
            return f"{where}: {reply.decode('utf-8', 'replace')}"
    if not replies or replies[-1] != b"+PONG":
        return f"{where}: no PONG (answered {answer[:80]!r})"
    return None


def check_schema() -> str | None:
    """The database's Alembic revision is the newest one this image knows (the migrate Job has run)."""
    try:
        from alembic.script import ScriptDirectory

        from amyplant_config.discovery import resolve_urls
        from amyplant_config.settings import CommonSettings
        from amyplant_store.database import alembic_config, create_engine, current_revision
    except ImportError as error:
        return f"--schema needs amyplant-store in this image: {error}"
    try:
        _, url = resolve_urls(CommonSettings())
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        engine = create_engine(url, pool_size=1)
        try:
            with engine.connect() as connection:
                revision = current_revision(connection)
        finally:
            engine.dispose()
    except Exception as error:  # Any failure to reach or read the database means: not ready yet.
        return f"database: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if revision != head:
        return f"database schema at {revision}, waiting for {head} (the migrate Job applies it)"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amyplant-probe",
        description="Health checks of the amyplant images: exit 0 when every given check passes.",
    )
    parser.add_argument("--url", action="append", default=[], help="GET this URL; passes on a 2xx answer")
    parser.add_argument("--contains", help="with --url: the answer must contain this text")
    parser.add_argument(
        "--metrics-port-env",
        metavar="VARIABLE",
        help="GET http://127.0.0.1:$VARIABLE/metrics (passes when the variable is 0: exporter off)",
    )
    parser.add_argument("--process", action="append", default=[], help="a live process runs this command")
    parser.add_argument("--redis", action="store_true", help="AMYPLANT_REDIS_URL answers PING")
    parser.add_argument("--schema", action="store_true", help="the database is at the newest migration")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds one network check may take")
    parser.add_argument("--wait", action="store_true", help="repeat until every check passes")
    parser.add_argument("--interval", type=float, default=5.0, help="with --wait: seconds between tries")
    parser.add_argument(
        "--max-wait", type=float, default=0.0, help="with --wait: give up after this many seconds (0: never)"
    )
    return parser


def checks_from(args: argparse.Namespace) -> list[Check]:
    checks: list[Check] = []
    checks += [partial(check_url, url, args.contains, args.timeout) for url in args.url]
    if args.metrics_port_env:
        checks.append(partial(check_metrics, args.metrics_port_env, args.timeout))
    checks += [partial(check_process, name) for name in args.process]
    if args.redis:
        checks.append(partial(check_redis, args.timeout))
    if args.schema:
        checks.append(check_schema)
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    checks = checks_from(args)
    if not checks:
        parser.error("give at least one check")
    started = time.monotonic()
    while True:
        failures = [reason for reason in (check() for check in checks) if reason is not None]
        if not failures:
            return 0
        for reason in failures:
            print(f"amyplant-probe: {reason}", file=sys.stderr, flush=True)
        if not args.wait or (args.max_wait and time.monotonic() - started >= args.max_wait):
            return 1
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
