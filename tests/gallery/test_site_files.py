"""The web site's files as the gallery serves them: types, caching, the strict policy, nothing external;
and /api/v1/me, which tells the site what a key may do."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from amyplant_gallery.site import SITE_DIR

EXPECTED_TYPES = {
    "/": "text/html",
    "/index.html": "text/html",
    "/css/site.css": "text/css",
    "/js/app.js": "text/javascript",
    "/js/pages/people.js": "text/javascript",
    "/img/logo.svg": "image/svg+xml",
}
# SVG's namespace is a name, not a request; anything else that looks like an address is a dependency.
NAMESPACE = "http://www.w3.org/2000/svg"


def test_the_site_is_laid_out_as_planned() -> None:
    assert (SITE_DIR / "index.html").is_file()
    for folder in ("css", "js", "img"):
        assert any((SITE_DIR / folder).iterdir()), folder


def test_site_files_have_their_types_caching_and_the_strict_policy(bare_client: TestClient) -> None:
    for path, content_type in EXPECTED_TYPES.items():
        answer = bare_client.get(path, headers={"Authorization": ""})
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(content_type), path
        assert answer.headers["cache-control"] == "no-cache", path
        assert answer.headers["etag"], path
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' blob:" in policy
        assert "unsafe-inline" not in policy
        assert answer.headers["x-frame-options"] == "DENY"
    again = bare_client.get("/css/site.css", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code in (200, 304)
    assert bare_client.get("/js/missing.js").status_code == 404
    # The API keeps its own answers: an unknown API path is the API's JSON 404, not the site's page.
    missing = bare_client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")


def test_no_site_file_refers_outside_the_gallery() -> None:
    for path in Path(SITE_DIR).rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8").replace(NAMESPACE, "")
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path
            assert "style=" not in text, f"{path}: inline styles are refused by the policy"


def test_me_tells_the_key_its_scopes_and_the_settings(bare_client: TestClient) -> None:
    me = bare_client.get("/api/v1/me")
    assert me.status_code == 200
    body = me.json()
    assert body["scopes"] == ["admin"] and body["can_enroll"] and body["is_admin"]
    assert 0 < body["match_threshold"] <= 4 and body["max_files_per_request"] > 1
    made = bare_client.post("/api/v1/api-keys", json={"name": "site read", "scopes": ["read"]}).json()
    try:
        reader = bare_client.get("/api/v1/me", headers={"Authorization": f"Bearer {made['key']}"}).json()
        assert reader["scopes"] == ["read"] and not reader["can_enroll"] and not reader["is_admin"]
        assert reader["key_name"] == "site read"
    finally:
        bare_client.delete(f"/api/v1/api-keys/{made['id']}")
    assert bare_client.get("/api/v1/me", headers={"Authorization": ""}).status_code == 401
