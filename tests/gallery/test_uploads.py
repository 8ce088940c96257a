"""Upload checks without models: limits, sniffing, corrupt files, EXIF orientation, JSON errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from amyplant_gallery.app import create_app
from amyplant_gallery.uploads import decode_image_bytes, read_limited
from amyplant_store.errors import GalleryError
from tests.gallery.conftest import ADMIN_KEY, gallery_settings
from tests.gallery.images import blank_photo, png_header_only, stored_rotated

LIMIT = 50_000_000


def reason(data: bytes, *, max_pixels: int = LIMIT) -> tuple[str, int]:
    with pytest.raises(GalleryError) as caught:
        decode_image_bytes(data, filename="upload.jpg", max_pixels=max_pixels)
    return caught.value.code, caught.value.status


def test_bad_files_are_refused_with_their_own_code_and_status(shared_data: Path) -> None:
    photo = (shared_data / "probe" / "obama1.jpg").read_bytes()
    assert reason(b"") == ("empty_file", 400)
    assert reason(b"just some text, not a picture") == ("not_an_image", 415)
    assert reason(b"%PDF-1.7\n" + bytes(200)) == ("not_an_image", 415)
    assert reason(photo[: len(photo) // 3]) == ("image_corrupt", 422)
    assert reason(png_header_only(8000, 8000)) == ("image_too_large", 413)  # 64 Mpx: our limit
    assert reason(png_header_only(100_000, 100_000)) == ("image_too_large", 413)  # Pillow's bomb guard
    assert reason(blank_photo(), max_pixels=1000) == ("image_too_large", 413)


def test_the_content_decides_the_format_not_the_name(shared_data: Path) -> None:
    png = io.BytesIO()
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(png, format="PNG")
    decoded = decode_image_bytes(png.getvalue(), filename="looks-like.jpg", max_pixels=LIMIT)
    assert decoded.image_format == "PNG" and decoded.rgb.shape == (20, 30, 3)
    assert len(decoded.sha256) == 64


def test_exif_orientation_is_applied(shared_data: Path) -> None:
    path = shared_data / "probe" / "obama1.jpg"
    with Image.open(path) as original:
        upright_size = original.size
    decoded = decode_image_bytes(stored_rotated(path), filename="rotated.jpg", max_pixels=LIMIT)
    assert (decoded.rgb.shape[1], decoded.rgb.shape[0]) == upright_size


def test_reading_stops_past_the_byte_limit() -> None:
    with pytest.raises(GalleryError) as caught:
        read_limited(io.BytesIO(bytes(5000)), filename="big.jpg", max_bytes=4999)
    assert (caught.value.code, caught.value.status) == ("upload_too_large", 413)
    assert read_limited(io.BytesIO(bytes(5000)), filename="ok.jpg", max_bytes=5000) == bytes(5000)


@pytest.fixture
def small_limit_client(gallery_db: str, redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = gallery_settings(
        database_url=gallery_db, redis_url=redis_url, state_dir=tmp_path, models=tmp_path / "no-models"
    )
    settings.max_upload_bytes = 2000
    with TestClient(create_app(settings), headers={"X-API-Key": ADMIN_KEY}) as client:
        yield client


def test_oversized_uploads_and_requests_get_413(small_limit_client: TestClient, clean_gallery: str) -> None:
    person = small_limit_client.post("/api/v1/people", json={"name": "Ada"}).json()
    bulk = small_limit_client.post(
        f"/api/v1/people/{person['id']}/faces",
        files=[("files", ("big.jpg", bytes(3000))), ("files", ("empty.jpg", b""))],
    )
    assert bulk.status_code == 422 and bulk.json()["code"] == "nothing_enrolled"
    results = bulk.json()["details"]["results"]
    assert [(r["code"], r["http_status"]) for r in results] == [
        ("upload_too_large", 413),
        ("empty_file", 400),
    ]
    huge = small_limit_client.post("/api/v1/recognize", files={"image": ("huge.jpg", bytes(2 * 1024 * 1024))})
    assert huge.status_code == 413 and huge.json()["code"] == "request_too_large"


def test_errors_are_json_with_a_code_and_a_message(bare_client: TestClient, clean_gallery: str) -> None:
    cases = [
        bare_client.get("/api/v1/people/999999"),
        bare_client.get("/api/v1/no-such-route"),
        bare_client.put("/api/v1/people"),
        bare_client.post(
            "/api/v1/people", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        bare_client.post("/api/v1/people", json={"name": ""}),
        bare_client.get("/api/v1/people", params={"limit": "many"}),
        bare_client.post("/api/v1/recognize"),
        bare_client.post("/api/v1/recognize", files={"image": ("x.txt", b"hello")}),
        bare_client.post("/api/v1/people/1/faces", data={"face_box": "1,2"}),
    ]
    expected = [
        (404, "person_not_found"),
        (404, "not_found"),
        (405, "method_not_allowed"),
        (422, "invalid_request"),
        (422, "invalid_request"),
        (422, "invalid_request"),
        (422, "invalid_request"),
        (415, "not_an_image"),
        (422, "invalid_request"),
    ]
    for response, (status, code) in zip(cases, expected, strict=True):
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert response.json()["message"]
