"""The trainer end to end on a real small dataset: annotate, augment, train, export, gate, roll back."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from amyplant_config.settings import CommonSettings, Environment, TrainerSettings
from amyplant_faces.models import repository
from amyplant_faces.models.inprocess import InProcessRuntime, load_serving_function
from amyplant_queue.messages import TrainingRequest
from amyplant_queue.training_status import TrainingStatusStore
from amyplant_trainer.datasets import load_dataset, pre_annotate
from amyplant_trainer.fitting import Hyperparameters
from amyplant_trainer.labelme import Annotation, FaceBox, write_annotation
from amyplant_trainer.publishing import train_and_publish
from amyplant_trainer.split import SplitPlan
from amyplant_trainer.tasks import run_request

pytestmark = pytest.mark.slow


def _served_repo(built_model_repo: Path, tmp_path: Path) -> Path:
    """A private repository whose face_detector version 1 is the session's built detector."""
    repo = tmp_path / "repo"
    (repo / "face_detector").mkdir(parents=True)
    os.symlink(built_model_repo / "face_detector" / "1", repo / "face_detector" / "1")
    return repo


def _clip_frames(video: Path, folder: Path, *, every: int) -> int:
    capture = cv2.VideoCapture(str(video))
    index = saved = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            cv2.imwrite(str(folder / f"clip_{index:04d}.jpg"), frame)
            saved += 1
        index += 1
    capture.release()
    return saved


def _generated_scenes(source: Path, folder: Path, runtime: InProcessRuntime, *, count: int) -> None:
    """Scenes made by pasting a real face at known places onto noise; every third one has no face."""
    bgr = cv2.imread(str(source))
    assert bgr is not None, f"cannot read {source}"
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    detection = runtime.detect(rgb)[0]
    x1, y1, x2, y2 = (int(v) for v in detection.box)
    face = rgb[y1:y2, x1:x2]
    rng = np.random.default_rng(5)
    for index in range(count):
        scene = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
        faces = []
        if index % 3:
            scale = rng.uniform(0.5, 1.2)
            patch = cv2.resize(face, None, fx=scale, fy=scale)
            top = int(rng.integers(0, 360 - patch.shape[0]))
            left = int(rng.integers(0, 640 - patch.shape[1]))
            scene[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
            faces.append(FaceBox(left, top, left + patch.shape[1], top + patch.shape[0]))
        path = folder / f"scene_{index:04d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(scene, cv2.COLOR_RGB2BGR))
        write_annotation(Annotation(image_path=path, width=640, height=360, faces=faces))


def test_trainer_builds_trains_exports_and_gates(
    shared_data: Path, built_model_repo: Path, tmp_path: Path, redis_client: redis.Redis
) -> None:
    repo = _served_repo(built_model_repo, tmp_path)
    dataset_dir = tmp_path / "dataset"
    dataset_dir.mkdir()
    runtime = InProcessRuntime(repo)
    assert _clip_frames(shared_data / "video" / "short_hamilton_clip.mp4", dataset_dir, every=8) >= 30
    assert pre_annotate(dataset_dir, runtime) >= 30
    _generated_scenes(shared_data / "photos" / "obama-480p.jpg", dataset_dir, runtime, count=12)
    dataset = load_dataset(dataset_dir)
    assert dataset.faces > 20 and any(not a.faces for a in dataset.annotations)

    # Deliberately worse: a small backbone from random weights (no pretrained start) for three epochs.
    hyper = Hyperparameters(
        size=128, backbone="mobilenetv2", stride=16, epochs=3, batch_size=16, expansion=4, patience=5, seed=11
    )
    outcome = train_and_publish(
        dataset_dir,
        repo=repo,
        workdir=tmp_path / "work",
        hyper=hyper,
        plan=SplitPlan(validation=0.15, test=0.2, block=5, seed=11),
        verbose=0,
    )
    losses = outcome.history["loss"]
    assert losses[-1] < losses[0], f"training loss did not fall: {losses}"
    # The gate refuses it: its AP@0.5 on the test split is below the served detector's.
    assert outcome.gate["publish"] is False, outcome.gate
    assert outcome.gate["candidate"]["ap_50"] < outcome.gate["served"]["ap_50"]
    assert outcome.published_version is None
    assert repository.latest_version(repo, name="face_detector") == 1

    candidate = load_serving_function(outcome.candidate_dir)
    clip = next(dataset_dir.glob("clip_*.jpg"))
    bgr = cv2.imread(str(clip))
    assert bgr is not None, f"cannot read {clip}"
    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    outputs = candidate({"image": frame})
    assert outputs["boxes"].shape[1:] == (4,) and outputs["landmarks"].shape[1:] == (5, 2)
    assert outputs["scores"].shape == (outputs["boxes"].shape[0],)

    # Published by force through the Celery task's own function (its state recorded in Redis), the new
    # version is what the in-process runtime serves, and rollback undoes it.
    store = TrainingStatusStore(redis_client)
    request = TrainingRequest(
        job_id="0123abcd", dataset=str(dataset_dir), epochs=1, size=128, expansion=2, seed=11, force=True
    )
    store.create(request.job_id, request.model_dump(mode="json"))
    common = CommonSettings(
        environment=Environment.DEVELOPMENT,
        model_repository=repo,
        state_dir=tmp_path / "state",
        database_url="postgresql://unused.invalid/none",
    )
    assert run_request(request, settings=TrainerSettings(common=common), store=store) == {
        "state": "done",
        "published_version": 2,
    }
    recorded = store.get(request.job_id)
    assert recorded is not None and recorded["state"] == "done" and recorded["published_version"] == 2
    assert len(recorded["epochs"]) == 1 and recorded["gate"]["publish"] is True
    manifest = repository.read_manifest(repository.version_dir(repo, name="face_detector", version=2))
    assert manifest["extra"]["trained"]["dataset_sha256"] == dataset.content_hash()
    fresh = InProcessRuntime(repo, poll_interval_s=0.0)
    fresh.detect(frame)
    assert fresh.status().model("face_detector").serving_version == 2  # type: ignore[union-attr]
    repository.rollback(repo, name="face_detector")
    assert repository.latest_version(repo, name="face_detector") == 1
