"""The live pipeline as real processes: `amyplant up` with 2 workers, `amyplant capture` playing the clip,
one worker SIGKILLed mid-clip; the singer is named in few events, no frame is lost, no event doubled."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import redis
import sqlalchemy as sa

from amyplant.embedded.ports import free_loopback_port
from amyplant_config.discovery import StackRecord
from amyplant_store.database import create_engine
from tests.e2e.processes import stack_environment, start_up, wait_healthy
from tests.gallery.conftest import truncate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ADMIN_KEY = "amyk_e2e-admin-key-for-the-live-clip-test"


def _enroll(api: httpx.Client, name: str, files: list[Path]) -> None:
    person = api.post("/api/v1/people", json={"name": name})
    assert person.status_code == 201, person.text
    upload = [("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files]
    response = api.post(f"/api/v1/people/{person.json()['id']}/faces", files=upload, timeout=120)
    assert response.status_code == 201, response.text


def _pending_frames(client: redis.Redis) -> int:
    return len(list(client.scan_iter("amyplant:frame:stage*"))) + int(client.llen("frames"))


def test_clip_through_capture_and_two_workers_survives_a_killed_worker(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    database_url: str,
    built_model_repo: Path,
    shared_data: Path,
) -> None:
    truncate(database_url)
    environment = stack_environment(
        tmp_path / "state",
        redis_url=redis_url,
        database_url=database_url,
        models=built_model_repo,
        admin_key=ADMIN_KEY,
    )
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    up = start_up(environment, port=port, log=(tmp_path / "up.log").open("wb"))
    try:
        wait_healthy(url, up)
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
        video = shared_data / "video"
        _enroll(api, "lin-manuel-miranda", [video / "lin-manuel-miranda.png"])
        _enroll(api, "alex-lacamoire", [video / "alex-lacamoire.png"])
        for person_dir in sorted((shared_data / "enroll").iterdir()):
            _enroll(api, person_dir.name, sorted(person_dir.iterdir()))

        cameras = tmp_path / "cameras.yaml"
        cameras.write_text(f"cameras:\n  - id: stage\n    source: {video / 'short_hamilton_clip.mp4'}\n")
        capture = subprocess.Popen(
            [sys.executable, "-m", "amyplant.cli", "capture", "--cameras-file", str(cameras)],
            env=environment,
            stdout=(tmp_path / "capture.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        time.sleep(4)  # mid-clip (it lasts about 9 s)
        record = StackRecord.read(tmp_path / "state")
        assert record is not None
        victim = psutil.Process(record.children["worker-1"])
        for process in [victim, *victim.children(recursive=True)]:
            process.send_signal(signal.SIGKILL)
        assert capture.wait(timeout=120) == 0
        deadline = time.monotonic() + 90
        while _pending_frames(redis_client) and time.monotonic() < deadline:
            time.sleep(1)
        # Every frame was handled (its worker releases it) or dropped by the bounded backlog (deleted).
        assert _pending_frames(redis_client) == 0, "frames were lost with the killed worker"

        engine = create_engine(database_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    sa.text(
                        "select e.track_id, p.name from events e left join people p on p.id = e.person_id"
                        " where e.camera_id = 'stage'"
                    )
                ).all()
        finally:
            engine.dispose()
        names = [row.name for row in rows if row.name]
        print("events:", [(row.track_id, row.name) for row in rows])
        assert 1 <= names.count("lin-manuel-miranda") <= 3
        assert set(names) <= {"lin-manuel-miranda", "alex-lacamoire"}
        assert len({row.track_id for row in rows}) == len(rows), "an event was doubled"
        events = api.get("/api/v1/events", params={"camera": "stage"})
        assert events.status_code == 200
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=20)
        truncate(database_url)
