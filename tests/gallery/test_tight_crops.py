"""Faces that fill the photo (ID photos) are enrolled and named; a tiny face in a big photo is found."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from amyplant_config.settings import GallerySettings
from amyplant_gallery.app import create_app
from tests.gallery.conftest import ADMIN_KEY, gallery_settings, probe_labels

FIVE_PEOPLE = ("alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie")
MARGINS = (0.0, 0.05, 0.10)  # the crop is the face box grown by this fraction of its size on each side
SMALL_FACE_PX = 14
LARGE_PHOTO = (1350, 1800)  # rows, columns: large enough for the tiled search (1600 px and up)


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


def _rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(cv2.imread(str(path), cv2.IMREAD_COLOR))[:, :, ::-1])


def _faces(client: TestClient, image: bytes, name: str = "photo.jpg") -> list[dict[str, object]]:
    response = client.post("/api/v1/recognize", files={"image": (name, image, "image/jpeg")})
    assert response.status_code == 200, response.text
    faces: list[dict[str, object]] = response.json()["faces"]
    return faces


def _tight_crops(
    client: TestClient, path: Path, margin: float, *, named_only: bool = False
) -> list[np.ndarray]:
    """One crop per face of the photo (per named face with `named_only`): the face box the gallery
    reports, grown by `margin`, clipped to the photo."""
    rgb = _rgb(path)
    crops = []
    for face in _faces(client, path.read_bytes(), path.name):
        if named_only and face["unknown"]:
            continue  # a bystander the labels do not list
        x1, y1, x2, y2 = (float(v) for v in face["box"])  # type: ignore[attr-defined]
        grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
        left, top = max(0, round(x1 - grow_x)), max(0, round(y1 - grow_y))
        right, bottom = min(rgb.shape[1], round(x2 + grow_x)), min(rgb.shape[0], round(y2 + grow_y))
        crops.append(rgb[top:bottom, left:right])
    return crops


def test_tight_crops_are_enrolled_and_named(
    model_client: TestClient, shared_data: Path, clean_gallery: str
) -> None:
    for name in FIVE_PEOPLE:
        person = model_client.post("/api/v1/people", json={"name": name}).json()
        files = []
        for index, path in enumerate(sorted((shared_data / "enroll" / name).iterdir())):
            [crop] = _tight_crops(model_client, path, MARGINS[index % len(MARGINS)])
            files.append(("files", (f"{path.stem}-crop.jpg", _jpeg(crop), "image/jpeg")))
        response = model_client.post(f"/api/v1/people/{person['id']}/faces", files=files)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["enrolled"] == len(files) and body["rejected"] == 0, body

    for file, expected in probe_labels(shared_data):
        for margin in MARGINS:
            named: Counter[str] = Counter()
            for crop in _tight_crops(model_client, shared_data / "probe" / file, margin, named_only=True):
                faces = _faces(model_client, _jpeg(crop))
                assert len(faces) >= 1, f"{file} cut at +{margin:.0%}: no face found in the crop"
                largest = max(faces, key=lambda f: f["box"][2] - f["box"][0])  # type: ignore[index]
                assert not largest["unknown"], f"{file} +{margin:.0%}: {largest}"
                named[largest["person"]["name"]] += 1  # type: ignore[index]
            assert named == Counter(expected), f"{file} cut at +{margin:.0%}: {named} != {expected}"


@pytest.fixture(scope="module")
def tiling_client(
    gallery_db: str, redis_url: str, built_model_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """A gallery with the tiled search at its default (12 px, photos of 1600 px and more)."""
    state = tmp_path_factory.mktemp("gallery-tiling")
    settings = gallery_settings(
        database_url=gallery_db,
        redis_url=redis_url,
        state_dir=state,
        models=built_model_repo,
        small_face_px=GallerySettings.model_fields["small_face_px"].default,
    )
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


def test_a_tiny_face_in_a_large_photo_is_found(tiling_client: TestClient, shared_data: Path) -> None:
    model_client = tiling_client
    portrait = _rgb(shared_data / "probe" / "obama1.jpg")
    [face] = _faces(model_client, _jpeg(portrait))
    x1, y1, x2, y2 = (round(float(v)) for v in face["box"])  # type: ignore[attr-defined]
    grow = (x2 - x1) // 2
    head = portrait[max(0, y1 - grow) : y2 + grow, max(0, x1 - grow) : x2 + grow]
    # The face box is half the head crop's width: scale the crop so the face is SMALL_FACE_PX wide.
    scale = SMALL_FACE_PX / (x2 - x1)
    small = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # A real photo as the backdrop (the stage of the shared clip), enlarged to a large photo's size.
    capture = cv2.VideoCapture(str(shared_data / "video" / "short_hamilton_clip.mp4"))
    ok, backdrop = capture.read()
    capture.release()
    assert ok
    photo = cv2.resize(backdrop[:, :, ::-1], LARGE_PHOTO[::-1], interpolation=cv2.INTER_CUBIC)
    top, left = 1000, 1300
    photo[top : top + small.shape[0], left : left + small.shape[1]] = small
    found = _faces(model_client, _jpeg(photo))
    centres = [((f["box"][0] + f["box"][2]) / 2, (f["box"][1] + f["box"][3]) / 2) for f in found]  # type: ignore[index]
    middle = (left + small.shape[1] / 2, top + small.shape[0] / 2)
    near = [
        c for c in centres if abs(c[0] - middle[0]) < SMALL_FACE_PX and abs(c[1] - middle[1]) < SMALL_FACE_PX
    ]
    assert near, f"the {SMALL_FACE_PX} px face at {middle} was not found; faces at {centres}"


@pytest.fixture(autouse=True)
def _needs_models(model_client: TestClient) -> None:
    """Both tests need the gallery with the real models (skips with the fixture when they are missing)."""
