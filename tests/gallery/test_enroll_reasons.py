"""Bulk enrollment gives every file its own result and reason; bad images never cause a 500."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.gallery.images import (
    blank_photo,
    blurred,
    png_header_only,
    shrunk,
    stored_rotated,
    truncated,
)


def new_person(client: TestClient, name: str) -> int:
    response = client.post("/api/v1/people", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_each_bad_file_gets_its_reason_and_the_good_one_is_enrolled(
    model_client: TestClient, shared_data: Path, clean_gallery: str
) -> None:
    person = new_person(model_client, "obama")
    probe = shared_data / "probe" / "obama1.jpg"
    files = [
        ("good.jpg", (shared_data / "enroll/obama/obama.jpg").read_bytes()),
        ("broken.jpg", truncated(probe)),
        ("notes.txt", b"this is not an image"),
        ("empty.jpg", b""),
        ("bomb.png", png_header_only(9000, 9000)),
        ("nobody.jpg", blank_photo()),
        ("pair.jpg", (shared_data / "probe/obama_and_biden.jpg").read_bytes()),
        ("tiny.jpg", shrunk(probe, 30 / 428)),
        ("blurred.jpg", blurred(shared_data / "probe/johnsnow_test1.jpg", 6)),
        ("rescaled-copy.jpg", (shared_data / "photos/obama-1080p.jpg").read_bytes()),
        ("good.jpg", (shared_data / "enroll/obama/obama.jpg").read_bytes()),
    ]
    response = model_client.post(f"/api/v1/people/{person}/faces", files=[("files", f) for f in files])
    assert response.status_code == 207, response.text
    body = response.json()
    got = [(r["filename"], r["status"], r["code"], r["http_status"]) for r in body["results"]]
    assert got == [
        ("good.jpg", "enrolled", "enrolled", 201),
        ("broken.jpg", "rejected", "image_corrupt", 422),
        ("notes.txt", "rejected", "not_an_image", 415),
        ("empty.jpg", "rejected", "empty_file", 400),
        ("bomb.png", "rejected", "image_too_large", 413),
        ("nobody.jpg", "rejected", "no_face", 422),
        ("pair.jpg", "rejected", "several_faces", 422),
        ("tiny.jpg", "rejected", "face_too_small", 422),
        ("blurred.jpg", "rejected", "face_too_blurred", 422),
        ("rescaled-copy.jpg", "rejected", "duplicate_face", 409),
        ("good.jpg", "rejected", "duplicate_image", 409),
    ]
    assert (body["enrolled"], body["rejected"]) == (1, 10)
    assert all(r["message"] for r in body["results"])
    pair = next(r for r in body["results"] if r["code"] == "several_faces")
    assert len(pair["details"]["faces"]) == 2
    assert model_client.get(f"/api/v1/people/{person}").json()["face_count"] == 1


def test_nothing_enrolled_is_a_422_with_every_reason(
    model_client: TestClient, shared_data: Path, clean_gallery: str
) -> None:
    person = new_person(model_client, "nobody")
    response = model_client.post(
        f"/api/v1/people/{person}/faces",
        files=[("files", ("blank.jpg", blank_photo())), ("files", ("x.bin", b"\x00" * 64))],
    )
    assert response.status_code == 422
    assert response.json()["code"] == "nothing_enrolled"
    assert [r["code"] for r in response.json()["details"]["results"]] == ["no_face", "not_an_image"]


def test_one_face_of_a_group_photo_is_enrolled_by_choosing_it(
    model_client: TestClient, shared_data: Path, clean_gallery: str
) -> None:
    obama = new_person(model_client, "obama")
    biden = new_person(model_client, "biden")
    pair = (shared_data / "probe/obama_and_biden.jpg").read_bytes()
    # obama is the right-hand face of the photo, biden the left-hand one.
    by_box = model_client.post(
        f"/api/v1/people/{obama}/faces",
        files=[("files", ("pair.jpg", pair))],
        data={"face_box": "1120,390,1330,595"},
    )
    assert by_box.status_code == 201, by_box.text
    assert by_box.json()["results"][0]["face"]["box"][0] > 1000
    by_choice = model_client.post(
        f"/api/v1/people/{biden}/faces",
        files=[("files", ("pair.jpg", pair))],
        data={"choices": '{"pair.jpg": {"face_box": [735, 425, 940, 630]}}'},
    )
    assert by_choice.status_code == 201, by_choice.text
    third = new_person(model_client, "someone else")
    out_of_range = model_client.post(
        f"/api/v1/people/{third}/faces", files=[("files", ("pair.jpg", pair))], data={"face_index": "5"}
    )
    assert out_of_range.json()["details"]["results"][0]["code"] == "face_index_out_of_range"

    recognised = model_client.post("/api/v1/recognize", files={"image": ("pair.jpg", pair)}).json()
    left_to_right = sorted(recognised["faces"], key=lambda face: face["box"][0])
    assert [face["person"]["name"] for face in left_to_right] == ["biden", "obama"]


def test_single_image_routes_refuse_bad_images_with_4xx(
    model_client: TestClient, shared_data: Path, clean_gallery: str
) -> None:
    probe = shared_data / "probe" / "obama1.jpg"
    cases = {
        "empty_file": (b"", 400),
        "not_an_image": (b"GIF? no", 415),
        "image_corrupt": (truncated(probe), 422),
        "image_too_large": (png_header_only(9000, 9000), 413),
    }
    for route in ("/api/v1/recognize", "/api/v1/search"):
        for code, (data, status) in cases.items():
            response = model_client.post(route, files={"image": ("upload.jpg", data)})
            assert (response.status_code, response.json()["code"]) == (status, code), (route, response.text)
    nobody = model_client.post("/api/v1/recognize", files={"image": ("blank.jpg", blank_photo())})
    assert nobody.status_code == 200 and nobody.json()["faces"] == []
    search_nobody = model_client.post("/api/v1/search", files={"image": ("blank.jpg", blank_photo())})
    assert (search_nobody.status_code, search_nobody.json()["code"]) == (422, "no_face")


def test_a_photo_stored_sideways_is_turned_upright_by_its_exif_orientation(
    model_client: TestClient, shared_data: Path, clean_gallery: str
) -> None:
    obama = new_person(model_client, "obama")
    sideways = stored_rotated(shared_data / "probe" / "obama1.jpg")
    enrolled = model_client.post(
        f"/api/v1/people/{obama}/faces", files=[("files", ("sideways.jpg", sideways))]
    )
    assert enrolled.status_code == 201, enrolled.text
    face = enrolled.json()["results"][0]["face"]
    assert face["box"][0] > 400  # the upright photo's face is at x 533-962; sideways it would be near y
