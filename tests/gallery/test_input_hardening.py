"""Issue 21: ids beyond bigint, control characters and look-alike names, confined training datasets,
16-bit greyscale images, and an OpenAPI schema that says what the server enforces."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import numpy as np
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from amyplant_config.settings import GallerySettings
from amyplant_gallery.uploads import decode_image_bytes
from tests.gallery.test_access_hardening import add_event_and_visitor

BEYOND_BIGINT = 2**63
MAX_PIXELS = 50_000_000


@pytest.fixture
def client(bare_client: TestClient, clean_gallery: str) -> Iterator[TestClient]:
    """The bare gallery answering 500s as responses (not exceptions), so a test sees what a caller sees."""
    yield TestClient(bare_client.app, headers=dict(bare_client.headers), raise_server_exceptions=False)


def settings_of(client: TestClient) -> GallerySettings:
    assert isinstance(client.app, FastAPI)
    settings: GallerySettings = client.app.state.context.settings
    return settings


def assert_refused(response: Any, *statuses: int) -> None:
    assert response.status_code in statuses, (response.request.url, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "message", "details"} and body["code"] and body["message"], body


def openapi(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def integer_path_templates(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, template) of every operation that has an integer path parameter."""
    found = []
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            if any(p["in"] == "path" and p["schema"].get("type") == "integer" for p in parameters):
                found.append((method, template))
    return found


# Item 3: integers beyond 2^63-1 (Postgres bigint) are a 404 or 422, never a 500.


def test_ids_beyond_bigint_in_any_path_are_refused(client: TestClient) -> None:
    person = client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    bodies: dict[str, Any] = {
        "/api/v1/people/{person_id}": {"name": "Ada King"},
        "/api/v1/people/{person_id}/merge": {"from_person_id": person},
        "/api/v1/events/{event_id}/feedback": {"person_id": person, "is_person": False},
        "/api/v1/visitors/{visitor_id}": {"label": "courier"},
        "/api/v1/visitors/{visitor_id}/name": {"person_id": person},
    }
    operations = integer_path_templates(openapi(client))
    assert len(operations) >= 17
    for method, template in operations:
        path = re.sub(r"\{[^}]+\}", str(BEYOND_BIGINT), template)
        if method in ("get", "delete"):
            response = client.request(method.upper(), path)
        elif template.endswith("/faces") and method == "post":
            response = client.post(path, files={"files": ("a.jpg", b"x")})
        else:
            response = client.request(method.upper(), path, json=bodies[template])
        assert_refused(response, 404, 422)
    # One id in range, the other beyond it.
    assert_refused(client.get(f"/api/v1/people/{person}/faces/{BEYOND_BIGINT}/crop"), 404, 422)


def test_ids_and_offsets_beyond_bigint_in_queries_and_bodies_are_refused(
    client: TestClient, gallery_db: str
) -> None:
    for path in ("/api/v1/people", "/api/v1/visitors", "/api/v1/events", "/api/v1/audit"):
        assert_refused(client.get(path, params={"offset": BEYOND_BIGINT}), 422)
    for name in ("person_id", "visitor_id"):
        assert_refused(client.get("/api/v1/events", params={name: BEYOND_BIGINT}), 422)
    person = client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    event_id, visitor_id = add_event_and_visitor(gallery_db)
    merge = client.post(f"/api/v1/people/{person}/merge", json={"from_person_id": BEYOND_BIGINT})
    assert_refused(merge, 404, 422)
    feedback = {"person_id": BEYOND_BIGINT, "is_person": False}
    assert_refused(client.post(f"/api/v1/events/{event_id}/feedback", json=feedback), 404, 422)
    naming = client.post(f"/api/v1/visitors/{visitor_id}/name", json={"person_id": BEYOND_BIGINT})
    assert_refused(naming, 404, 422)


def test_the_schema_bounds_every_id_and_offset(client: TestClient) -> None:
    document = openapi(client)

    def bounded(schema: dict[str, Any], low: int) -> bool:
        options = schema.get("anyOf", [schema])
        integer = next(option for option in options if option.get("type") == "integer")
        # An exclusive 2^63 stays exact even when rendered as a float; an inclusive 2^63-1 must be an int.
        if "exclusiveMaximum" in integer:
            return bool(integer.get("minimum") == low and int(integer["exclusiveMaximum"]) == BEYOND_BIGINT)
        return bool(integer.get("minimum") == low and integer.get("maximum") == BEYOND_BIGINT - 1)

    checked = 0
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                name, schema = parameter["name"], parameter["schema"]
                if (
                    name.endswith("_id")
                    and parameter["in"] in ("path", "query")
                    and "string" not in str(schema)
                ):
                    assert bounded(schema, 1), (method, template, parameter)
                    checked += 1
                if name == "offset":
                    assert bounded(schema, 0), (method, template, parameter)
                    checked += 1
    assert checked >= 25
    components = document["components"]["schemas"]
    assert bounded(components["MergeRequest"]["properties"]["from_person_id"], 1)
    assert bounded(components["FeedbackRequest"]["properties"]["person_id"], 1)
    assert bounded(components["NameVisitorRequest"]["properties"]["person_id"], 1)
    assert bounded(components["Body_verify_api_v1_verify_post"]["properties"]["person_id"], 1)


# Item 4: control characters are refused; names are normalised before the duplicate check.

TEXT_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/people", {"json": {"name": "Ada\x00"}}),
    ("POST", "/api/v1/people", {"json": {"name": "Ada\x1bLovelace"}}),
    ("POST", "/api/v1/people", {"json": {"name": "Ada", "notes": "door\x00"}}),
    ("POST", "/api/v1/people", {"json": {"name": "Ada", "notes": "bell\x07"}}),
    ("PATCH", "/api/v1/people/{person}", {"json": {"name": "Ada\x00King"}}),
    ("PATCH", "/api/v1/people/{person}", {"json": {"name": "Ada\tKing"}}),
    ("PATCH", "/api/v1/people/{person}", {"json": {"notes": "\x00"}}),
    ("POST", "/api/v1/api-keys", {"json": {"name": "ha\x00", "scopes": ["read"]}}),
    ("POST", "/api/v1/api-keys", {"json": {"name": "ha\u202eevil", "scopes": ["read"]}}),
    ("GET", "/api/v1/people", {"params": {"query": "a\x00"}}),
    ("GET", "/api/v1/events", {"params": {"camera_id": "door\x00"}}),
    ("PATCH", "/api/v1/visitors/{visitor}", {"json": {"label": "courier\x00"}}),
    ("POST", "/api/v1/visitors/{visitor}/name", {"json": {"name": "Grace\x00"}}),
]


def test_control_characters_in_text_fields_are_refused(client: TestClient, gallery_db: str) -> None:
    person = client.post("/api/v1/people", json={"name": "Grace"}).json()["id"]
    _, visitor = add_event_and_visitor(gallery_db)
    for method, path, arguments in TEXT_REQUESTS:
        response = client.request(method, path.format(person=person, visitor=visitor), **arguments)
        assert_refused(response, 422)
        assert response.json()["code"] == "invalid_request"
    # Notes are several lines: tabs and line breaks stay.
    notes = client.patch(f"/api/v1/people/{person}", json={"notes": "front door\n\tafter 6 pm\r\n"})
    assert notes.status_code == 200 and notes.json()["notes"] == "front door\n\tafter 6 pm\r\n"
    assert client.get("/api/v1/people").json()["total"] == 1


def test_names_are_normalised_before_the_duplicate_check(client: TestClient, gallery_db: str) -> None:
    composed = client.post("/api/v1/people", json={"name": "Zo\u00eb"})
    assert composed.status_code == 201 and composed.json()["name"] == "Zo\u00eb"
    decomposed = client.post("/api/v1/people", json={"name": "Zoe\u0308"})
    assert decomposed.status_code == 409 and decomposed.json()["code"] == "person_exists"
    odd = client.post("/api/v1/people", json={"name": " Mary\u00a0\u2007Ann\u2010Smith\u3000"})
    assert odd.status_code == 201 and odd.json()["name"] == "Mary Ann-Smith"
    for twin in ("Mary Ann\u2212Smith", "mary\u202fann-smith", "Mary  Ann\u2013Smith"):
        assert client.post("/api/v1/people", json={"name": twin}).status_code == 409, twin
    renamed = client.patch(f"/api/v1/people/{odd.json()['id']}", json={"name": "ZOE\u0308"})
    assert renamed.status_code == 409
    found = client.get("/api/v1/people", params={"query": "zoe\u0308"}).json()["items"]
    assert [p["name"] for p in found] == ["Zo\u00eb"]
    # Naming a visitor by a look-alike name joins the existing person.
    _, visitor = add_event_and_visitor(gallery_db)
    named = client.post(f"/api/v1/visitors/{visitor}/name", json={"name": "Zoe\u0308"})
    assert named.status_code == 200 and named.json()["person_id"] == composed.json()["id"]
    # So does an imported person; and an archive's control characters are refused, not a 500.
    imported = client.post("/api/v1/import", files={"archive": ("g.zip", archive([{"name": "Zoe\u0308"}]))})
    assert imported.status_code == 200 and imported.json()["people_matched"] == 1, imported.text
    for bad in ({"name": "Eve\x00"}, {"name": "Eve", "notes": "\x00"}):
        assert_refused(client.post("/api/v1/import", files={"archive": ("g.zip", archive([bad]))}), 422)
    assert client.get("/api/v1/people").json()["total"] == 2


def archive(people: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("manifest.json", json.dumps({"format": "amyplant-gallery", "version": 1}))
        zipped.writestr("people.json", json.dumps(people))
    return buffer.getvalue()


# Item 6: training datasets must be existing folders under the datasets root.


def test_training_datasets_must_be_folders_under_the_datasets_root(
    client: TestClient, redis_client: redis.Redis, tmp_path: Path
) -> None:
    root = settings_of(client).resolved_datasets_dir()
    (root / "door").mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text("not a dataset")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").unlink(missing_ok=True)
    (root / "escape").symlink_to(outside)
    refusals = {
        "/etc/passwd": "dataset_outside_root",
        str(tmp_path): "dataset_outside_root",
        f"{root}/../../etc": "dataset_outside_root",
        f"{root}/escape": "dataset_outside_root",
        str(root): "dataset_outside_root",
        f"{root}/missing": "dataset_not_found",
        f"{root}/notes.txt": "dataset_not_found",
        "datasets/door": "dataset_path_not_absolute",
    }
    for dataset, code in refusals.items():
        refused = client.post("/api/v1/training", json={"dataset": dataset})
        assert_refused(refused, 422)
        assert refused.json()["code"] == code, (dataset, refused.text)
    assert redis_client.llen("training") == 0
    started = client.post("/api/v1/training", json={"dataset": f"{root}/door/../door"})
    assert started.status_code == 202, started.text
    assert started.json()["request"]["dataset"] == str(root / "door")
    assert redis_client.llen("training") == 1


# Item 10: 16-bit images are scaled to 8 bits, not clipped.


def grey16() -> np.ndarray:
    return np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)


def encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def test_16_bit_grey_images_decode_to_the_full_8_bit_range() -> None:
    values = grey16()
    ok, png = cv2.imencode(".png", values)
    assert ok
    big_endian = Image.fromarray(values.byteswap().view(">u2"))
    files = {
        "I;16 PNG": png.tobytes(),
        "I;16B TIFF": encoded(big_endian, "TIFF"),
        "I TIFF": encoded(Image.fromarray(values.astype(np.int32)), "TIFF"),
        "RGB 16-bit PNG": cv2.imencode(".png", np.stack([values] * 3, axis=-1))[1].tobytes(),
    }
    for name, data in files.items():
        rgb = decode_image_bytes(data, filename=name, max_pixels=MAX_PIXELS).rgb
        assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3), name
        assert (rgb.min(), rgb.max()) == (0, 255), name
        assert abs(float(rgb.mean()) - 127.5) < 1.0, (name, rgb.mean())
        expected = np.round(values.astype(np.float64) * 255 / 65535)
        assert np.abs(rgb[..., 0].astype(np.float64) - expected).max() <= 1, name


def test_a_16_bit_grey_photo_is_recognised_like_the_8_bit_one(
    model_client: TestClient, shared_data: Path
) -> None:
    photo = shared_data / "enroll" / "obama" / "obama.jpg"
    grey = np.asarray(Image.open(photo).convert("L"))
    sixteen = grey.astype(np.uint16) * 257
    faces = {}
    for name, pixels in (("grey8.png", grey), ("grey16.png", sixteen)):
        ok, png = cv2.imencode(".png", pixels)
        assert ok
        response = model_client.post("/api/v1/recognize", files={"image": (name, png.tobytes())})
        assert response.status_code == 200, response.text
        faces[name] = response.json()["faces"]
    assert len(faces["grey8.png"]) >= 1
    assert len(faces["grey16.png"]) == len(faces["grey8.png"])
    for eight, sixteen_face in zip(faces["grey8.png"], faces["grey16.png"], strict=True):
        assert np.allclose(eight["box"], sixteen_face["box"], atol=2.0)


# Item 11: the schema lists what the server answers.


def multipart_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content:
                reference = content["multipart/form-data"]["schema"]["$ref"]
                body = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
                yield method, template, {"operation": operation, "body": body}


def test_every_status_a_multipart_operation_answers_is_in_the_schema(client: TestClient) -> None:
    document = openapi(client)
    person = client.post("/api/v1/people", json={"name": "Ada"}).json()["id"]
    checked = 0
    for method, template, found in multipart_operations(document):
        path = template.replace("{person_id}", str(person))
        listed = set(found["operation"]["responses"])
        body = found["body"]
        fields = {
            name: "door"
            for name in body.get("required", [])
            if body["properties"][name].get("type") != "array"
        }
        binary = [name for name, field in body["properties"].items() if "contentMediaType" in str(field)]
        for content in (b"", b"plain text, not an image"):
            files = [(name, ("upload.jpg", content)) for name in binary]
            response = client.request(method.upper(), path, files=files, data=fields)
            assert str(response.status_code) in listed, (template, content, response.status_code, listed)
        garbage = client.request(
            method.upper(),
            path,
            content=b"--x\r\nnot multipart",
            headers={"content-type": "multipart/form-data"},
        )
        assert str(garbage.status_code) in listed, (template, garbage.status_code, listed)
        # A multipart field cannot be null: an optional one is left out.
        for name, field in body["properties"].items():
            assert "null" not in json.dumps(field), (template, name, field)
        checked += 1
    assert checked >= 6


def test_the_visitor_naming_rule_is_in_the_schema(client: TestClient, gallery_db: str) -> None:
    schema = openapi(client)["components"]["schemas"]["NameVisitorRequest"]
    validator = jsonschema.Draft202012Validator(schema)
    _, visitor = add_event_and_visitor(gallery_db)
    cases = [{}, {"name": "Grace", "person_id": 1}, {"name": None, "person_id": None}]
    for body in cases:
        assert not validator.is_valid(body), body
        assert_refused(client.post(f"/api/v1/visitors/{visitor}/name", json=body), 422)
    for body in ({"name": "Grace"}, {"person_id": 1}, {"name": "Grace", "person_id": None}):
        assert validator.is_valid(body), body


def test_a_wrong_method_lists_every_method_of_the_path(client: TestClient) -> None:
    for path, methods in (
        ("/api/v1/people", {"GET", "POST"}),
        ("/api/v1/people/1", {"GET", "PATCH", "DELETE"}),
        ("/api/v1/api-keys", {"GET", "POST"}),
    ):
        for method in ("OPTIONS", "PUT"):
            response = client.request(method, path)
            assert_refused(response, 405)
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert methods <= allowed and method not in allowed, (path, allowed)
