"""Model versions through the API: listed with their figures; rollback and promote are admin and audited."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from amyplant_faces.models import repository
from tests.models.tiny_models import TinyBuilder

DETECTOR = "face_detector"


@pytest.fixture
def detector_versions(bare_client: TestClient) -> Iterator[Path]:
    """Two tiny face_detector versions in the repository of the client's gallery; removed afterwards."""
    repo: Path = bare_client.app.state.context.settings.common.resolved_model_repository  # type: ignore[attr-defined]
    for scale in (1.0, 2.0):
        built = TinyBuilder(DETECTOR, scale).build()
        built.figures = {"gate": {"candidate_ap50": 0.5 + scale / 10}}
        repository.publish(repo, built=built, builder="tests")
    yield repo
    shutil.rmtree(repo / DETECTOR)


def test_versions_are_listed_with_their_figures(bare_client: TestClient, detector_versions: Path) -> None:
    listed = {model["name"]: model for model in bare_client.get("/api/v1/models").json()}
    detector = listed[DETECTOR]
    assert detector["serving_version"] == 2
    assert [v["version"] for v in detector["versions"]] == [1, 2]
    assert [v["serving"] for v in detector["versions"]] == [False, True]
    assert detector["versions"][1]["figures"]["gate"]["candidate_ap50"] == pytest.approx(0.7)
    assert detector["retired"] == []


def test_rollback_and_promote_change_the_served_version_and_are_audited(
    bare_client: TestClient, detector_versions: Path, clean_gallery: str
) -> None:
    rolled = bare_client.post(f"/api/v1/models/{DETECTOR}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json() == {"name": DETECTOR, "retired_version": 2, "serving_version": 1}
    refused = bare_client.post(f"/api/v1/models/{DETECTOR}/rollback")
    assert refused.status_code == 409 and refused.json()["code"] == "model_version_refused"

    promoted = bare_client.post(f"/api/v1/models/{DETECTOR}/promote", json={"version": 2})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json() == {"name": DETECTOR, "promoted_from": 2, "serving_version": 3}
    detector = next(m for m in bare_client.get("/api/v1/models").json() if m["name"] == DETECTOR)
    assert detector["serving_version"] == 3 and detector["versions"][-1]["promoted_from"] == 2
    assert bare_client.post(f"/api/v1/models/{DETECTOR}/promote", json={"version": 3}).status_code == 409
    assert bare_client.post("/api/v1/models/no_such_model/rollback").status_code == 422

    actions = [entry["action"] for entry in bare_client.get("/api/v1/audit").json()["items"]]
    assert actions[:2] == ["model.promote", "model.rollback"]


def test_only_admin_keys_roll_back_or_promote(bare_client: TestClient, detector_versions: Path) -> None:
    made = bare_client.post("/api/v1/api-keys", json={"name": "enroller", "scopes": ["enroll"]}).json()
    try:
        headers = {"Authorization": f"Bearer {made['key']}"}
        assert bare_client.get("/api/v1/models", headers=headers).status_code == 200
        for path, body in (("rollback", None), ("promote", {"version": 1})):
            answer = bare_client.post(f"/api/v1/models/{DETECTOR}/{path}", json=body, headers=headers)
            assert answer.status_code == 403
        assert repository.list_versions(detector_versions, name=DETECTOR) == [1, 2]
    finally:
        bare_client.delete(f"/api/v1/api-keys/{made['id']}")
