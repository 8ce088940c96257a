"""People routes without models: create, list and search, rename, merge, delete, samples."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from amyplant_store import face_samples as face_store
from amyplant_store.database import create_engine


def add_sample(database_url: str, person_id: int, seed: int) -> int:
    """A synthetic sample written through the repository (enrollment itself needs the models)."""
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    engine = create_engine(database_url, pool_size=1)
    try:
        with Session(engine) as session, session.begin():
            face = face_store.add_face(
                session,
                person_id=person_id,
                sample=face_store.SampleData(
                    embedding=vector,
                    model_version=1,
                    crop_jpeg=b"\xff\xd8\xff\xe0crop",
                    source_sha256=f"{seed:064d}",
                    box=(1.0, 2.0, 50.0, 60.0),
                    detector_score=0.9,
                    size_px=48.0,
                    sharpness=80.0,
                ),
            )
            return face.id
    finally:
        engine.dispose()


def test_create_list_search_and_page_people(bare_client: TestClient, clean_gallery: str) -> None:
    for name in ("Ada Lovelace", "Grace Hopper", "Alan Turing", "ada's cousin"):
        assert bare_client.post("/api/v1/people", json={"name": name}).status_code == 201
    everyone = bare_client.get("/api/v1/people").json()
    assert everyone["total"] == 4
    assert [p["name"] for p in everyone["items"]] == [
        "Ada Lovelace",
        "ada's cousin",
        "Alan Turing",
        "Grace Hopper",
    ]
    found = bare_client.get("/api/v1/people", params={"query": "ADA"}).json()
    assert [p["name"] for p in found["items"]] == ["Ada Lovelace", "ada's cousin"]
    assert bare_client.get("/api/v1/people", params={"query": "%"}).json()["total"] == 0
    page = bare_client.get("/api/v1/people", params={"limit": 2, "offset": 2}).json()
    assert [p["name"] for p in page["items"]] == ["Alan Turing", "Grace Hopper"] and page["total"] == 4
    taken = bare_client.post("/api/v1/people", json={"name": "  ada   LOVELACE "})
    assert taken.status_code == 409 and taken.json()["code"] == "person_exists"
    blank = bare_client.post("/api/v1/people", json={"name": "   "})
    assert blank.status_code == 422 and blank.json()["code"] == "invalid_name"


def test_rename_and_flag_a_person(bare_client: TestClient, clean_gallery: str) -> None:
    ada = bare_client.post("/api/v1/people", json={"name": "Ada"}).json()
    bare_client.post("/api/v1/people", json={"name": "Grace"})
    renamed = bare_client.patch(f"/api/v1/people/{ada['id']}", json={"name": "Ada King", "alert": True})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["alert"]) == ("Ada King", True)
    clash = bare_client.patch(f"/api/v1/people/{ada['id']}", json={"name": "grace"})
    assert clash.status_code == 409 and clash.json()["details"]["person_id"] != ada["id"]
    assert bare_client.patch("/api/v1/people/999999", json={"name": "x"}).status_code == 404


def test_merge_moves_samples_and_deletes_the_merged_person(
    bare_client: TestClient, clean_gallery: str
) -> None:
    ada = bare_client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    copy = bare_client.post("/api/v1/people", json={"name": "Ada (door camera)"}).json()["id"]
    add_sample(clean_gallery, ada, 1)
    moved = add_sample(clean_gallery, copy, 2)
    merged = bare_client.post(f"/api/v1/people/{ada}/merge", json={"from_person_id": copy})
    assert merged.status_code == 200 and merged.json()["face_count"] == 2
    assert bare_client.get(f"/api/v1/people/{copy}").status_code == 404
    samples = bare_client.get(f"/api/v1/people/{ada}/faces").json()
    assert moved in [s["id"] for s in samples] and all(s["model_version"] == 1 for s in samples)
    itself = bare_client.post(f"/api/v1/people/{ada}/merge", json={"from_person_id": ada})
    assert itself.status_code == 422 and itself.json()["code"] == "same_person"


def test_samples_can_be_seen_and_deleted_and_people_deleted(
    bare_client: TestClient, clean_gallery: str
) -> None:
    ada = bare_client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    face = add_sample(clean_gallery, ada, 3)
    crop = bare_client.get(f"/api/v1/people/{ada}/faces/{face}/crop")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert bare_client.delete(f"/api/v1/people/{ada}/faces/{face}").status_code == 204
    assert bare_client.delete(f"/api/v1/people/{ada}/faces/{face}").json()["code"] == "face_not_found"
    deleted = bare_client.delete(f"/api/v1/people/{ada}")
    assert deleted.status_code == 200 and deleted.json() == {
        "person_id": ada,
        "erased": False,
        "events_erased": 0,
        "visitors_deleted": 0,
    }
    assert bare_client.get(f"/api/v1/people/{ada}").json()["code"] == "person_not_found"


def test_openapi_documents_every_route_with_examples(bare_client: TestClient) -> None:
    schema = bare_client.get("/openapi.json").json()
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    gallery_ops = [entry for entry in operations if entry[0].startswith("/api/v1")]
    assert len(gallery_ops) >= 25
    for path, method, operation in gallery_ops:
        assert operation.get("summary"), (path, method)
        errors = [status for status in operation["responses"] if status.startswith(("4", "5"))]
        assert errors, f"{method} {path} documents no error response"
    bodies = schema["components"]["schemas"]
    for name in (
        "PersonCreate",
        "EnrollResponse",
        "RecognizeResponse",
        "VerifyResponse",
        "SearchResponse",
        "FeedbackRequest",
        "ErrorBody",
        "EventOut",
        "VisitorOut",
    ):
        assert bodies[name].get("examples"), f"{name} has no example"
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])
