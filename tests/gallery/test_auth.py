"""API keys: scopes on every route, hashed storage, revocation, and the first admin key."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from amyplant_gallery.api_keys import ADMIN_KEY_FILE, ensure_admin_key, hash_key
from amyplant_store.database import create_engine
from tests.gallery.conftest import ADMIN_KEY, PEPPER


def new_key(client: TestClient, name: str, scopes: list[str]) -> tuple[int, str]:
    response = client.post("/api/v1/api-keys", json={"name": name, "scopes": scopes})
    assert response.status_code == 201, response.text
    return int(response.json()["id"]), str(response.json()["key"])


def as_key(key: str | None) -> dict[str, str]:
    return {"Authorization": ""} if key is None else {"Authorization": f"Bearer {key}"}


def test_routes_check_the_scope_of_the_key(bare_client: TestClient, clean_gallery: str) -> None:
    read_id, read = new_key(bare_client, "dashboard", ["read"])
    enroll_id, enroll = new_key(bare_client, "enroller", ["enroll"])
    try:
        missing = bare_client.get("/api/v1/people", headers=as_key(None))
        assert (missing.status_code, missing.json()["code"]) == (401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = bare_client.get("/api/v1/people", headers=as_key("amyk_not-a-real-key"))
        assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_api_key")

        assert bare_client.get("/api/v1/people", headers=as_key(read)).status_code == 200
        assert (
            bare_client.get("/api/v1/people", headers={"Authorization": "", "X-API-Key": read}).status_code
            == 200
        )
        refused = bare_client.post("/api/v1/people", json={"name": "Ada"}, headers=as_key(read))
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        assert refused.json()["details"]["required_scope"] == "enroll"

        created = bare_client.post("/api/v1/people", json={"name": "Ada"}, headers=as_key(enroll))
        assert created.status_code == 201
        assert (
            bare_client.delete(f"/api/v1/people/{created.json()['id']}", headers=as_key(enroll)).status_code
            == 403
        )
        assert bare_client.get("/api/v1/api-keys", headers=as_key(enroll)).status_code == 403
        assert bare_client.get("/api/v1/export", headers=as_key(read)).status_code == 403

        revoked = bare_client.delete(f"/api/v1/api-keys/{read_id}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        after = bare_client.get("/api/v1/people", headers=as_key(read))
        assert (after.status_code, after.json()["code"]) == (401, "invalid_api_key")
    finally:
        for key_id in (read_id, enroll_id):
            bare_client.delete(f"/api/v1/api-keys/{key_id}")


def test_health_needs_no_key(bare_client: TestClient) -> None:
    assert bare_client.get("/livez", headers=as_key(None)).status_code == 200
    health = bare_client.get("/health", headers=as_key(None))
    assert health.status_code in (200, 503) and "parts" in health.json()


def test_keys_are_stored_only_as_peppered_hashes(bare_client: TestClient, gallery_db: str) -> None:
    key_id, secret = new_key(bare_client, "hash check", ["read"])
    try:
        listed = {k["id"]: k for k in bare_client.get("/api/v1/api-keys").json()}
        assert "key" not in listed[key_id] and secret.startswith(listed[key_id]["prefix"])
        engine = create_engine(gallery_db, pool_size=1)
        with engine.connect() as connection:
            dump = connection.execute(sa.text("select api_keys::text from api_keys")).scalars().all()
        engine.dispose()
        assert not any(secret in row for row in dump)
        assert any(hash_key(secret, pepper=PEPPER) in row for row in dump)
        assert hash_key(secret, pepper="another pepper") != hash_key(secret, pepper=PEPPER)
    finally:
        bare_client.delete(f"/api/v1/api-keys/{key_id}")
    own = next(k for k in bare_client.get("/api/v1/api-keys").json() if ADMIN_KEY.startswith(k["prefix"]))
    refused = bare_client.delete(f"/api/v1/api-keys/{own['id']}")
    assert (refused.status_code, refused.json()["code"]) == (409, "cannot_revoke_own_key")


def test_the_first_admin_key_is_generated_saved_privately_and_never_logged(
    gallery_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(gallery_db, pool_size=1)
    try:
        with engine.connect() as connection:
            outer = connection.begin()  # rolled back: the session's own admin key stays as it was
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            session.execute(sa.text("update api_keys set revoked_at = now()"))
            with caplog.at_level(logging.WARNING, logger="amyplant_gallery.api_keys"):
                created = ensure_admin_key(session, pepper=PEPPER, configured_key=None, state_dir=tmp_path)
                again = ensure_admin_key(session, pepper=PEPPER, configured_key=None, state_dir=tmp_path)
            assert created is not None and again is None
            saved = tmp_path / ADMIN_KEY_FILE
            assert saved.read_text().strip() == created.secret
            assert stat.S_IMODE(saved.stat().st_mode) == 0o600
            messages = [record.getMessage() for record in caplog.records]
            assert any(str(saved) in message for message in messages)
            # Not the key, nor even its shown prefix (a configured key may be short): its random part.
            assert not any(created.secret[5:12] in message for message in messages)
            assert created.record.scopes == ["admin"] and created.secret != ADMIN_KEY
            outer.rollback()
    finally:
        engine.dispose()
