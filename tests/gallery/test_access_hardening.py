"""Issue 21: merges need admin and are audited, scopes per biometric route, no secret in a log, throttled
failed authentications, security headers, and /health details behind a key."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from amyplant_gallery.api_keys import ensure_admin_key
from amyplant_gallery.app import create_app
from amyplant_store.database import create_engine
from amyplant_store.tables import GALLERY_TABLES, Event, Visitor
from tests.conftest import REPO_ROOT
from tests.gallery.conftest import PEPPER, gallery_settings
from tests.gallery.test_auth import as_key, new_key
from tests.gallery.test_people_api import add_sample

WRONG_KEY = "amyk_this-key-was-never-issued"


@pytest.fixture
def scoped_keys(bare_client: TestClient) -> Iterator[dict[str, str]]:
    """A read key and an enroll key, revoked afterwards."""
    made = {scope: new_key(bare_client, f"{scope} key", [scope]) for scope in ("read", "enroll")}
    yield {scope: secret for scope, (_, secret) in made.items()}
    for key_id, _ in made.values():
        bare_client.delete(f"/api/v1/api-keys/{key_id}")


def audit_entries(client: TestClient, **params: int) -> list[dict[str, object]]:
    response = client.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def own_key_id(client: TestClient) -> int:
    return min(int(key["id"]) for key in client.get("/api/v1/api-keys").json())


# Item 1: merging deletes the merged person, so it needs admin like DELETE, and is audited.


def test_an_enroll_key_cannot_merge_and_an_admin_merge_is_audited(
    bare_client: TestClient, clean_gallery: str, scoped_keys: dict[str, str]
) -> None:
    ada = bare_client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    other = bare_client.post("/api/v1/people", json={"name": "Not Ada"}).json()["id"]
    refused = bare_client.post(
        f"/api/v1/people/{ada}/merge", json={"from_person_id": other}, headers=as_key(scoped_keys["enroll"])
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert refused.json()["details"]["required_scope"] == "admin"
    assert bare_client.get(f"/api/v1/people/{other}").status_code == 200

    assert bare_client.post(f"/api/v1/people/{ada}/merge", json={"from_person_id": other}).status_code == 200
    assert bare_client.get(f"/api/v1/people/{other}").status_code == 404
    newest = audit_entries(bare_client)[0]
    assert newest["action"] == "person.merge" and newest["target"] == f"person:{ada}"
    assert newest["details"] == {"from_person_id": other}
    assert (newest["actor_key_id"], newest["actor_name"]) == (own_key_id(bare_client), "bootstrap admin")


def test_deletions_and_key_changes_are_audited_newest_first_and_only_for_admins(
    bare_client: TestClient, clean_gallery: str, scoped_keys: dict[str, str]
) -> None:
    assert "audit_log" in GALLERY_TABLES  # emptied with the other tables between tests
    before = len(audit_entries(bare_client, limit=200))
    kept = bare_client.post("/api/v1/people", json={"name": "Grace"}).json()["id"]
    erased = bare_client.post("/api/v1/people", json={"name": "Forget Me"}).json()["id"]
    assert bare_client.delete(f"/api/v1/people/{kept}").status_code == 200
    assert bare_client.delete(f"/api/v1/people/{erased}", params={"erase": True}).status_code == 200
    assert bare_client.delete("/api/v1/people/999999").status_code == 404  # failed: not recorded
    key_id, _ = new_key(bare_client, "short-lived", ["read"])
    assert bare_client.delete(f"/api/v1/api-keys/{key_id}").status_code == 200

    page = bare_client.get("/api/v1/audit", params={"limit": 50}).json()
    assert page["total"] == before + 4 and (page["limit"], page["offset"]) == (50, 0)
    newest = [(entry["action"], entry["target"]) for entry in page["items"][:4]]
    assert newest == [
        ("api_key.revoke", f"api_key:{key_id}"),
        ("api_key.create", f"api_key:{key_id}"),
        ("person.erase", f"person:{erased}"),
        ("person.delete", f"person:{kept}"),
    ]
    assert "Forget Me" not in str(page["items"])  # an erased person's name is not kept here
    second = audit_entries(bare_client, limit=1, offset=1)
    assert [entry["id"] for entry in second] == [page["items"][1]["id"]]
    for scope in ("read", "enroll"):
        refused = bare_client.get("/api/v1/audit", headers=as_key(scoped_keys[scope]))
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")


# Item 5: read sees events and snapshots; crops, samples and face search need enroll.


def add_event_and_visitor(database_url: str) -> tuple[int, int]:
    """An event with a snapshot and a crop, belonging to an unknown visitor (written directly: no models)."""
    now = datetime.now(UTC)
    vector = np.random.default_rng(5).normal(size=128).astype(np.float32)
    engine = create_engine(database_url, pool_size=1)
    try:
        with Session(engine) as session, session.begin():
            visitor = Visitor(centroid=vector, model_version=1, face_count=1, first_seen=now, last_seen=now)
            session.add(visitor)
            session.flush()
            event = Event(
                camera_id="door",
                track_id="t1",
                started_at=now,
                ended_at=now,
                visitor_id=visitor.id,
                box=[1.0, 2.0, 50.0, 60.0],
                detector_score=0.9,
                size_px=48.0,
                sharpness=80.0,
                embedding=vector,
                model_version=1,
                snapshot=b"\xff\xd8\xff\xe0snapshot",
                crop=b"\xff\xd8\xff\xe0crop",
            )
            session.add(event)
            session.flush()
            return event.id, visitor.id
    finally:
        engine.dispose()


def test_biometric_data_is_shown_by_scope_route_by_route(
    bare_client: TestClient, clean_gallery: str, scoped_keys: dict[str, str]
) -> None:
    person = bare_client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    face = add_sample(clean_gallery, person, 7)
    event, visitor = add_event_and_visitor(clean_gallery)
    read, enroll = as_key(scoped_keys["read"]), as_key(scoped_keys["enroll"])

    dashboard = ["/api/v1/events", f"/api/v1/events/{event}", f"/api/v1/events/{event}/snapshot"]
    for path in dashboard:
        assert bare_client.get(path, headers=read).status_code == 200, path

    biometric = [
        f"/api/v1/people/{person}/faces",
        f"/api/v1/people/{person}/faces/{face}/crop",
        f"/api/v1/events/{event}/crop",
        f"/api/v1/visitors/{visitor}/crop",
    ]
    for path in biometric:
        refused = bare_client.get(path, headers=read)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden"), path
        assert refused.json()["details"]["required_scope"] == "enroll"
        assert bare_client.get(path, headers=enroll).status_code == 200, path

    photo = {"image": ("face.jpg", b"\xff\xd8\xff\xe0not really", "image/jpeg")}
    searched = bare_client.post("/api/v1/search", files=photo, headers=read)
    assert (searched.status_code, searched.json()["code"]) == (403, "forbidden")
    # Past the scope check (this app has no models, and the bytes are no image: refused for that).
    assert bare_client.post("/api/v1/search", files=photo, headers=enroll).status_code not in (401, 403)

    for path in ("/api/v1/export", "/api/v1/audit"):
        assert bare_client.get(path, headers=enroll).status_code == 403, path


# Item 2: no secret reaches a log.


def test_a_configured_first_admin_key_is_not_logged_even_in_part(
    gallery_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured = "amyk_a-short-configured-key"
    engine = create_engine(gallery_db, pool_size=1)
    try:
        with engine.connect() as connection:
            outer = connection.begin()  # rolled back: the session's own admin key stays as it was
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            session.execute(sa.text("update api_keys set revoked_at = now()"))
            with caplog.at_level(logging.INFO, logger="amyplant_gallery.api_keys"):
                created = ensure_admin_key(
                    session, pepper=PEPPER, configured_key=configured, state_dir=tmp_path
                )
            assert created is not None
            assert caplog.records and not any(configured[:12] in r.getMessage() for r in caplog.records)
            outer.rollback()
    finally:
        engine.dispose()


def test_the_server_sends_no_banner_and_its_access_log_hides_keys_in_urls(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from amyplant_gallery import cli
    from amyplant_gallery.log_redaction import RedactSecretsFilter

    monkeypatch.setenv("AMYPLANT_ENVIRONMENT", "development")
    config = cli.server_config(argparse.Namespace(host="127.0.0.1", port=0))
    assert config.server_header is False
    access = logging.getLogger("uvicorn.access")
    access.addHandler(caplog.handler)  # uvicorn's access logger does not propagate to the root
    try:
        path = "/api/v1/people?limit=5&api_key=amyk_sent-in-the-url&token=t0ps3cret&KEY=k3y"
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 401)
    finally:
        access.removeHandler(caplog.handler)
        for installed in [f for f in access.filters if isinstance(f, RedactSecretsFilter)]:
            access.removeFilter(installed)
    logged = caplog.records[-1].getMessage()
    assert "/api/v1/people?limit=5&api_key=[redacted]&token=[redacted]&KEY=[redacted]" in logged
    assert not any(secret in logged for secret in ("amyk_sent-in-the-url", "t0ps3cret", "k3y"))


# Item 7: failed authentications are throttled per address.


@pytest.fixture
def strict_client(gallery_db: str, redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """An app of its own, allowing 3 failed authentications per minute and address."""
    settings = gallery_settings(
        database_url=gallery_db, redis_url=redis_url, state_dir=tmp_path, models=tmp_path / "no-models"
    ).model_copy(update={"auth_failure_limit": 3, "auth_failure_window_s": 60.0})
    with TestClient(create_app(settings)) as client:
        yield client


def test_failed_authentications_are_throttled_per_address(
    strict_client: TestClient, bare_client: TestClient, scoped_keys: dict[str, str]
) -> None:
    valid = as_key(scoped_keys["read"])
    for _ in range(10):  # a valid key's traffic never counts
        assert strict_client.get("/api/v1/people", headers=valid).status_code == 200
    for _ in range(3):
        wrong = strict_client.get("/api/v1/people", headers=as_key(WRONG_KEY))
        assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_api_key")
    throttled = strict_client.get("/api/v1/people", headers=as_key(WRONG_KEY))
    assert (throttled.status_code, throttled.json()["code"]) == (429, "too_many_failed_authentications")
    assert set(throttled.json()) == {"code", "message", "details"}
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert throttled.json()["details"]["retry_after_s"] == int(throttled.headers["retry-after"])
    # While locked out, not even a valid key is checked for this address: that would let it go on guessing.
    assert strict_client.get("/api/v1/people", headers=valid).status_code == 429
    assert strict_client.get("/health", headers=as_key(WRONG_KEY)).status_code == 429
    assert strict_client.get("/livez").status_code == 200
    documented = strict_client.get("/openapi.json").json()["paths"]["/api/v1/people"]["get"]["responses"]
    assert documented["429"]["content"]["application/json"]["example"]["code"] == throttled.json()["code"]


def test_the_limiter_forgets_old_failures_and_bounds_its_memory() -> None:
    from amyplant_gallery.auth_limits import AuthFailureLimiter

    now = [1000.0]
    limiter = AuthFailureLimiter(limit=2, window_s=60, max_addresses=3, clock=lambda: now[0])
    for address in ("a", "a", "b", "c", "d", "e"):
        limiter.record_failure(address)
    assert limiter.tracked_addresses() == 3  # the least recently failing were forgotten
    assert limiter.retry_after("e") is None  # one failure: below the limit
    limiter.record_failure("e")
    assert limiter.retry_after("e") == 60
    now[0] += 45
    assert limiter.retry_after("e") == 15
    now[0] += 15
    assert limiter.retry_after("e") is None
    limiter.record_failure("f")  # every older entry has expired: dropped
    assert limiter.tracked_addresses() == 1


def test_the_security_page_lists_every_route(bare_client: TestClient) -> None:
    paths = bare_client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, item in paths.items() for method in item}
    page = (REPO_ROOT / "docs" / "SECURITY.md").read_text()
    listed = set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", page, re.MULTILINE))
    assert listed == routes


# Item 8: security headers on every answer.


def test_every_answer_carries_the_security_headers(bare_client: TestClient, clean_gallery: str) -> None:
    event, _ = add_event_and_visitor(clean_gallery)
    answers = {
        "/livez": bare_client.get("/livez"),
        "/api/v1/people": bare_client.get("/api/v1/people"),
        "snapshot": bare_client.get(f"/api/v1/events/{event}/snapshot"),
        "401": bare_client.get("/api/v1/events", headers=as_key(None)),
        "404": bare_client.get("/no/such/route"),
    }
    for name, answer in answers.items():
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["x-frame-options"] == "DENY", name
        assert answer.headers["referrer-policy"] == "no-referrer", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name
        assert "server" not in answer.headers, name
    assert "default-src 'self'" in answers["/livez"].headers["content-security-policy"]
    for name in ("/api/v1/people", "snapshot", "401"):
        assert answers[name].headers["cache-control"] == "no-store", name


def test_the_docs_page_may_load_what_it_uses_and_nothing_else(bare_client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = bare_client.get(path)
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        origins = set(re.findall(r'(?:src|href)="(https://[^/"]+)', page.text))
        assert origins, path  # FastAPI's pages load Swagger UI / ReDoc from a CDN
        assert all(origin in policy for origin in origins), (path, origins)
        assert "https://" not in bare_client.get("/livez").headers["content-security-policy"]


# Item 12: /health tells probes ok or not; versions, paths and errors need a key.


def test_health_details_need_a_key(bare_client: TestClient, scoped_keys: dict[str, str]) -> None:
    public = bare_client.get("/health", headers=as_key(None))
    assert public.status_code in (200, 503)
    body = public.json()
    assert body["status"] in ("ok", "degraded")
    assert set(body["parts"]) == {"redis", "postgres", "models", "workers"}
    assert all(part == {"ok": part["ok"]} for part in body["parts"].values()), body
    assert "no-models" not in public.text  # the model repository's path

    detailed = bare_client.get("/health", headers=as_key(scoped_keys["read"])).json()
    assert detailed["parts"]["postgres"]["detail"]["pgvector"]
    assert detailed["parts"]["models"]["error"]  # this app has no models: the reason is shown with a key
    wrong = bare_client.get("/health", headers=as_key(WRONG_KEY))
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_api_key")
