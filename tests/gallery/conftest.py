"""Gallery apps on the session's embedded Postgres: one without models, one with the real models."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from amyplant_config.settings import CommonSettings, Environment, GallerySettings
from amyplant_gallery.app import create_app
from amyplant_store.database import create_engine
from amyplant_store.tables import GALLERY_TABLES

ADMIN_KEY = "amyk_test-admin-key-for-the-gallery-tests"
PEPPER = "test-pepper"
DATA_TABLES = tuple(table for table in GALLERY_TABLES if table != "api_keys")


def gallery_settings(
    *,
    database_url: str,
    redis_url: str,
    state_dir: Path,
    models: Path,
    threshold: float = 0.6,
    small_face_px: float = 0.0,
) -> GallerySettings:
    """Settings of a test gallery. The tiled search for small faces is off unless asked for: the tests
    count the faces of the shared photos as their README lists them (tiles also find a girl in a corner
    of probe/obama_and_biden.jpg); tests/gallery/test_tight_crops.py runs it at the default."""
    common = CommonSettings(
        environment=Environment.DEVELOPMENT,
        state_dir=state_dir,
        database_url=database_url,
        redis_url=redis_url,
        model_repository=models,
    )
    # The session's apps are shared by every test, many of which send wrong keys on purpose: the limit on
    # failed authentications is tested on an app of its own (test_access_hardening.py).
    return GallerySettings(
        common=common,
        api_key_pepper=PEPPER,
        bootstrap_admin_key=ADMIN_KEY,
        match_threshold=threshold,
        auth_failure_limit=10_000,
        small_face_px=small_face_px,
    )


def truncate(database_url: str, tables: tuple[str, ...] = DATA_TABLES) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"truncate {', '.join(tables)} restart identity cascade"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def gallery_db(database_url: str) -> str:
    """The session database, with the gallery's tables emptied once before the first gallery test."""
    truncate(database_url, GALLERY_TABLES)
    return database_url


@pytest.fixture(scope="session")
def bare_client(
    gallery_db: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The gallery without models (routes that need none); authenticated as the bootstrap admin."""
    state = tmp_path_factory.mktemp("gallery-state")
    settings = gallery_settings(
        database_url=gallery_db, redis_url=redis_url, state_dir=state, models=state / "no-models"
    )
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


@pytest.fixture(scope="session")
def model_client(
    gallery_db: str, redis_url: str, built_model_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The gallery with the four real models."""
    state = tmp_path_factory.mktemp("gallery-state-models")
    settings = gallery_settings(
        database_url=gallery_db, redis_url=redis_url, state_dir=state, models=built_model_repo
    )
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


@pytest.fixture
def clean_gallery(gallery_db: str) -> Iterator[str]:
    """Empties the gallery's data tables (not the API keys) after the test."""
    yield gallery_db
    truncate(gallery_db)


def probe_labels(data: Path) -> list[tuple[str, list[str]]]:
    """probe/labels.csv as (file, identities) rows."""
    with (data / "probe" / "labels.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = [cell.strip().lower() for cell in rows[0]]
    body = rows[1:] if "file" in header else rows
    return [
        (row[0].strip(), [name.strip() for name in row[1].split(";") if name.strip()]) for row in body if row
    ]


def enroll_folder(client: TestClient, person_dir: Path) -> dict[str, object]:
    """Create the person named after the folder and enroll all its photos in one bulk call."""
    created = client.post("/api/v1/people", json={"name": person_dir.name})
    assert created.status_code == 201, created.text
    person_id = created.json()["id"]
    files = [("files", (path.name, path.read_bytes(), "image/jpeg")) for path in sorted(person_dir.iterdir())]
    response = client.post(f"/api/v1/people/{person_id}/faces", files=files)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body
