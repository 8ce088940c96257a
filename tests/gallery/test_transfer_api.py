"""GET /api/v1/export and POST /api/v1/import move a gallery between installations."""

from __future__ import annotations

import io
import json
import zipfile

from fastapi.testclient import TestClient

from tests.gallery.test_people_api import add_sample


def test_an_export_imports_back_after_the_people_are_gone(
    bare_client: TestClient, clean_gallery: str
) -> None:
    ada = bare_client.post("/api/v1/people", json={"name": "Ada", "notes": "door"}).json()["id"]
    add_sample(clean_gallery, ada, 11)
    add_sample(clean_gallery, ada, 12)
    exported = bare_client.get("/api/v1/export")
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert (manifest["people"], manifest["faces"]) == (1, 2)
        assert sum(name.startswith("crops/") for name in archive.namelist()) == 2

    bare_client.delete(f"/api/v1/people/{ada}")
    imported = bare_client.post("/api/v1/import", files={"archive": ("gallery.zip", exported.content)})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {
        "people_created": 1,
        "people_matched": 0,
        "faces_added": 2,
        "faces_skipped": 0,
        "negatives_added": 0,
        "visitors_created": 0,
        "visitors_matched": 0,
        "events_added": 0,
        "events_skipped": 0,
    }
    restored = bare_client.get("/api/v1/people", params={"query": "ada"}).json()["items"]
    assert [(p["name"], p["notes"], p["face_count"]) for p in restored] == [("Ada", "door", 2)]


def test_a_bad_archive_is_refused_with_the_reason(bare_client: TestClient, clean_gallery: str) -> None:
    not_zip = bare_client.post("/api/v1/import", files={"archive": ("gallery.zip", b"PK but not really")})
    assert (not_zip.status_code, not_zip.json()["code"]) == (422, "invalid_archive")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps({"format": "amyplant-gallery", "version": 1}))
        archive.writestr("people.json", json.dumps([{"name": "Ada", "faces": [{"id": 1}]}]))
    broken = bare_client.post("/api/v1/import", files={"archive": ("gallery.zip", buffer.getvalue())})
    assert (broken.status_code, broken.json()["code"]) == (422, "invalid_archive")
    assert "people.json entry 0" in broken.json()["message"]
    assert bare_client.get("/api/v1/people").json()["total"] == 0
