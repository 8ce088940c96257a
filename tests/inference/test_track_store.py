"""TrackStore on a real Redis: state shared between workers, frames applied in order, redos replayed."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis

from amyplant_inference.track_store import Outcome, TrackStore, TrackStoreBusy
from amyplant_inference.tracking import FaceInput, MatchCandidate
from amyplant_queue.frames import taken_key
from amyplant_queue.messages import frame_key

EMBEDDING = np.random.default_rng(3).normal(0, 0.09, 128).astype(np.float32)


def faces_at(sequence: int) -> list[FaceInput]:
    box = (100.0 + 5 * sequence, 80.0, 180.0 + 5 * sequence, 160.0)
    return [
        FaceInput(
            box=box,
            embedding=EMBEDDING,
            size_px=80.0,
            sharpness=150.0,
            score=0.95,
            candidate=MatchCandidate("person-1", distance=0.3),
        )
    ]


def apply(store: TrackStore, sequence: int, *, run_id: str = "run1", camera: str = "door") -> Outcome:
    return store.apply(
        camera_id=camera,
        run_id=run_id,
        sequence=sequence,
        timestamp=1000.0 + sequence / 5,
        faces=faces_at(sequence),
    ).outcome


def test_two_workers_continue_one_camera_track(redis_client: redis.Redis) -> None:
    worker_a = TrackStore(redis_client)
    worker_b = TrackStore(redis.Redis(connection_pool=redis_client.connection_pool))
    answers = [
        (worker_a if sequence % 2 else worker_b).apply(
            camera_id="door",
            run_id="run1",
            sequence=sequence,
            timestamp=1000.0 + sequence / 5,
            faces=faces_at(sequence),
        )
        for sequence in range(6)
    ]
    assert all(answer.outcome is Outcome.APPLIED for answer in answers)
    track_ids = {answer.tracks.face_tracks[0] for answer in answers if answer.tracks}
    assert track_ids == {"door:run1:1"}
    last = answers[-1].tracks
    assert last is not None and last.updated[0].hits == 6 and last.updated[0].identity == "person-1"
    assert worker_a.load("door").state.last_sequence == 5


def test_a_frame_older_than_the_last_applied_is_dropped(redis_client: redis.Redis) -> None:
    store = TrackStore(redis_client, reorder_wait_s=0.0)
    assert apply(store, 0) is Outcome.APPLIED
    assert apply(store, 2) is Outcome.APPLIED
    assert apply(store, 1) is Outcome.STALE
    assert apply(store, 1, run_id="an-earlier-run") is Outcome.STALE  # captured earlier than frame 2
    assert store.load("door").state.last_sequence == 2


def test_a_redelivered_frame_gets_the_same_answer(redis_client: redis.Redis) -> None:
    store = TrackStore(redis_client)
    first = store.apply(camera_id="door", run_id="run1", sequence=0, timestamp=1000.0, faces=faces_at(0))
    apply(store, 1)
    again = store.apply(camera_id="door", run_id="run1", sequence=0, timestamp=1000.0, faces=faces_at(0))
    assert again.outcome is Outcome.REPLAYED
    assert again.tracks == first.tracks
    assert store.load("door").state.tracks[0].hits == 2  # the replay did not count the face twice


def test_a_late_predecessor_is_put_back_in_order(redis_client: redis.Redis) -> None:
    store = TrackStore(redis_client, reorder_wait_s=2.0)
    apply(store, 0)
    outcomes: dict[int, Outcome] = {}
    # Frame 2 arrives first; frame 1 shows up 0.2 s later and must still be applied, before frame 2.
    later = threading.Thread(target=lambda: outcomes.setdefault(2, apply(store, 2)))
    later.start()
    time.sleep(0.2)
    outcomes[1] = apply(store, 1)
    later.join(timeout=10)
    assert outcomes == {1: Outcome.APPLIED, 2: Outcome.APPLIED}
    assert store.load("door").state.last_sequence == 2


def test_a_frame_whose_predecessor_was_dropped_does_not_wait(redis_client: redis.Redis) -> None:
    store = TrackStore(redis_client, reorder_wait_s=2.0)
    apply(store, 0)
    in_flight = frame_key("door", 1, "run1")
    redis_client.set(in_flight, b"jpeg", ex=60)

    def timed_apply(sequence: int) -> tuple[Outcome, float]:
        started = time.monotonic()
        outcome = store.apply(
            camera_id="door",
            run_id="run1",
            sequence=sequence,
            timestamp=1000.0 + sequence / 5,
            faces=faces_at(sequence),
            predecessor_key=frame_key("door", sequence - 1, "run1"),
        ).outcome
        return outcome, time.monotonic() - started

    being_handled = frame_key("door", 3, "run1")
    redis_client.set(taken_key(being_handled), b"jpeg", ex=60)
    try:
        # Frame 2's predecessor (frame 1) still waits for a worker: frame 2 waits the whole reorder time.
        waited = timed_apply(2)
        # Frame 4's predecessor (frame 3) was taken by a worker and is being handled: the same.
        waited_taken = timed_apply(4)
        # Frame 6's predecessor (frame 5) has no key, as when the capture drops it: no wait.
        skipped = timed_apply(6)
    finally:
        redis_client.delete(in_flight, taken_key(being_handled))
    assert waited[0] == waited_taken[0] == skipped[0] == Outcome.APPLIED
    assert waited[1] >= 1.9 and waited_taken[1] >= 1.9 and skipped[1] < 1.0


def test_many_concurrent_frames_leave_a_consistent_state(redis_client: redis.Redis) -> None:
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def work(sequences: range) -> None:
        store = TrackStore(redis.Redis(connection_pool=redis_client.connection_pool), reorder_wait_s=0.05)
        for sequence in sequences:
            outcome = apply(store, sequence)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=work, args=(range(start, 60, 3),)) for start in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    applied = outcomes.count(Outcome.APPLIED)
    assert len(outcomes) == 60 and applied + outcomes.count(Outcome.STALE) == 60
    track = TrackStore(redis_client).load("door").state.tracks[0]
    assert track.hits == applied  # every applied frame counted exactly once, none lost to a race


def test_a_held_lock_makes_the_frame_retryable(redis_client: redis.Redis) -> None:
    holder = redis_client.lock("amyplant:tracks:door:lock", timeout=5)
    assert holder.acquire()
    try:
        with pytest.raises(TrackStoreBusy, match="door"):
            apply(TrackStore(redis_client, lock_wait_s=0.2), 0)
    finally:
        holder.release()


def test_only_the_newest_answers_are_kept(redis_client: redis.Redis) -> None:
    store = TrackStore(redis_client, results_kept=4)
    for sequence in range(10):
        apply(store, sequence)
    fields = []
    for field in redis_client.hkeys("amyplant:tracks:door:results"):
        assert isinstance(field, bytes), field  # the fixture's client does not decode responses
        fields.append(int(field.decode().rsplit(":", 1)[1]))
    assert sorted(fields) == [6, 7, 8, 9]
    assert redis_client.llen("amyplant:tracks:door:results_order") == 4
    assert all(redis_client.ttl(key) > 0 for key in redis_client.keys("amyplant:tracks:door:*"))
