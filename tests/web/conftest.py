"""The web site against a real stack: `amyplant up` (gallery, workers, models, embedded Postgres) and
Debian's Chromium driven by Playwright; every page is watched for requests leaving the gallery's origin."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, Request, sync_playwright

from amyplant.embedded.ports import free_loopback_port
from amyplant_store.database import migrate
from tests.e2e.processes import stack_environment, start_up, wait_healthy
from tests.gallery.conftest import truncate

CHROMIUM = Path("/usr/bin/chromium")
ADMIN_KEY = "amyk_web-admin-key-for-the-browser-tests"
REPO_ROOT = Path(__file__).resolve().parents[2]
# Screenshots land here (git ignores it) for people to look at; tests only check they were written.
ARTEFACTS = REPO_ROOT / "test-artefacts" / "web"


@dataclass
class Stack:
    """A running `amyplant up`: its URL, an admin API client and the environment it runs with."""

    url: str
    api: httpx.Client
    environment: dict[str, str]
    database_url: str


@dataclass
class Browsing:
    """A browser page on the stack and every request it made outside the stack's origin."""

    page: Page
    foreign_requests: list[str] = field(default_factory=list)


WEB_DATABASE = "amyplant_web"


@pytest.fixture(scope="module")
def web_database(database_url: str) -> Iterator[str]:
    """A database of its own on the session's embedded Postgres: the site's first admin key is the
    bootstrap one, which a gallery creates only where no admin key exists yet (other tests make theirs)."""
    server = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(sa.text(f"drop database if exists {WEB_DATABASE} with (force)"))
            connection.execute(sa.text(f"create database {WEB_DATABASE}"))
        url = sa.make_url(database_url).set(database=WEB_DATABASE).render_as_string(hide_password=False)
        migrate(url)
        yield url
        with server.connect() as connection:
            connection.execute(sa.text(f"drop database if exists {WEB_DATABASE} with (force)"))
    finally:
        server.dispose()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    web_database: str,
    built_model_repo: Path,
) -> Iterator[Stack]:
    database_url = web_database
    state_dir = tmp_path_factory.mktemp("web-stack")
    environment = stack_environment(
        state_dir / "state",
        redis_url=redis_url,
        database_url=database_url,
        models=built_model_repo,
        admin_key=ADMIN_KEY,
        workers=1,
    )
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    log = (state_dir / "up.log").open("wb")
    up = start_up(environment, port=port, log=log)
    try:
        wait_healthy(url, up)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120) as api:
            yield Stack(url=url, api=api, environment=environment, database_url=database_url)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browsing(browser: Browser, stack: Stack) -> Iterator[Browsing]:
    """A fresh browser context (no stored key) on the stack; fails the test on any foreign request.
    Afterwards the gallery's data (people, samples, events, visitors; not the keys) is emptied."""
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    watched = Browsing(page=context.new_page())

    def record(request: Request) -> None:
        url = request.url
        if not (url.startswith(stack.url + "/") or url == stack.url or url.startswith(("blob:", "data:"))):
            watched.foreign_requests.append(url)

    context.on("request", record)
    try:
        yield watched
    finally:
        context.close()
        truncate(stack.database_url)
    foreign = watched.foreign_requests
    assert foreign == [], f"requests outside the gallery's origin: {foreign}"
