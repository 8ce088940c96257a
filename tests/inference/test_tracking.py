"""Tracking: faces link across frames, tracks end after a gap, identity is voted, state survives JSON."""

from __future__ import annotations

import numpy as np
import pytest

from amyplant_inference.tracking import (
    FaceInput,
    FrameTracks,
    IdentityStatus,
    MatchCandidate,
    Tracker,
    TrackerConfig,
    box_iou,
    event_id_for,
)

RNG = np.random.default_rng(7)
# dlib descriptors have a norm close to 1 and different people sit ~0.9-1.4 apart; a person's own faces
# stay within ~0.3-0.5 of each other. These synthetic identities follow the same geometry.
PEOPLE = {name: RNG.normal(0, 0.09, 128).astype(np.float32) for name in ("ana", "ben", "cal")}


def face(
    person: str,
    box: tuple[float, float, float, float],
    *,
    candidate: str | None = "same",
    distance: float = 0.35,
    sharpness: float = 200.0,
    noise: float = 0.015,
) -> FaceInput:
    """A face of `person`; the matcher names `candidate` ('same': the person, None: nobody)."""
    embedding = PEOPLE[person] + RNG.normal(0, noise, 128).astype(np.float32)
    named = person if candidate == "same" else candidate
    return FaceInput(
        box=box,
        embedding=embedding,
        size_px=min(box[2] - box[0], box[3] - box[1]),
        sharpness=sharpness,
        score=0.9,
        candidate=MatchCandidate(person_id=named, distance=distance),
        age=30.0,
        female_probability=0.2,
    )


def run_frames(
    tracker: Tracker, frames: list[list[FaceInput]], *, run_id: str = "run1", start: int = 0, fps: float = 5.0
) -> list[FrameTracks]:
    return [
        tracker.update(
            run_id=run_id, sequence=start + index, timestamp=100.0 + (start + index) / fps, faces=faces
        )
        for index, faces in enumerate(frames)
    ]


def moving_box(index: int, x: float = 100.0, size: float = 80.0) -> tuple[float, float, float, float]:
    return (x + 6 * index, 50.0, x + 6 * index + size, 50.0 + size)


def test_a_moving_face_stays_one_track_and_two_people_stay_apart() -> None:
    tracker = Tracker.new("door")
    frames = [[face("ana", moving_box(i, x=40)), face("ben", moving_box(i, x=400))] for i in range(8)]
    results = run_frames(tracker, frames)
    ana_ids = {r.face_tracks[0] for r in results}
    ben_ids = {r.face_tracks[1] for r in results}
    assert len(ana_ids) == 1 and len(ben_ids) == 1 and ana_ids != ben_ids
    final = {report.track_id: report for report in results[-1].updated}
    assert final[ana_ids.pop()].identity == "ana"
    assert final[ben_ids.pop()].identity == "ben"


def test_swapped_positions_follow_the_embedding_not_the_box() -> None:
    tracker = Tracker.new("door")
    left, right = (100.0, 100.0, 180.0, 180.0), (400.0, 100.0, 480.0, 180.0)
    first = run_frames(tracker, [[face("ana", left), face("ben", right)]])[0]
    # Both jump across the frame (no overlap with their own previous box): the embedding decides.
    second = run_frames(tracker, [[face("ana", right), face("ben", left)]], start=1)[0]
    assert second.face_tracks == first.face_tracks


def test_a_track_ends_after_the_gap_and_a_later_face_starts_a_new_one() -> None:
    tracker = Tracker.new("door", TrackerConfig(max_gap_s=1.0))
    first = run_frames(tracker, [[face("ana", moving_box(0))], [face("ana", moving_box(1))]])
    empty = tracker.update(run_id="run1", sequence=2, timestamp=100.0 + 2.0, faces=[])
    assert [r.track_id for r in empty.ended] == [first[0].face_tracks[0]]
    assert empty.ended[0].ended and empty.ended[0].confirmed
    later = tracker.update(
        run_id="run1", sequence=3, timestamp=100.0 + 2.2, faces=[face("ana", moving_box(2))]
    )
    assert later.face_tracks[0] != first[0].face_tracks[0]


def test_one_blurred_frame_cannot_overturn_a_name() -> None:
    tracker = Tracker.new("door")
    sharp = [[face("ana", moving_box(i))] for i in range(5)]
    blurred_wrong = [[face("ana", moving_box(5), candidate="ben", distance=0.2, sharpness=5.0)]]
    results = run_frames(tracker, sharp + blurred_wrong)
    assert results[4].updated[0].identity == "ana"
    assert results[5].updated[0].identity == "ana"
    assert results[5].updated[0].status is IdentityStatus.KNOWN


def test_a_blurred_first_frame_does_not_name_anyone() -> None:
    tracker = Tracker.new("door")
    blurred = run_frames(
        tracker, [[face("ana", moving_box(0), candidate="ben", distance=0.2, sharpness=5.0)]]
    )
    assert blurred[0].updated[0].status is IdentityStatus.PENDING
    assert blurred[0].updated[0].identity is None
    later = run_frames(tracker, [[face("ana", moving_box(i))] for i in range(1, 4)], start=1)
    assert later[-1].updated[0].identity == "ana"


def test_a_tiny_far_face_needs_more_frames_than_a_close_sharp_one() -> None:
    close, far = Tracker.new("a"), Tracker.new("b")
    close_results = run_frames(close, [[face("ana", moving_box(i, size=120))] for i in range(2)])
    far_results = run_frames(far, [[face("ana", moving_box(i, size=20))] for i in range(2)])
    assert close_results[-1].updated[0].status is IdentityStatus.KNOWN
    assert far_results[-1].updated[0].status is IdentityStatus.PENDING


def test_conflicting_evidence_gives_unknown_never_a_guess() -> None:
    tracker = Tracker.new("door")
    frames = [
        [face("ana", moving_box(i), candidate="ana" if i % 2 else "ben", distance=0.3)] for i in range(6)
    ]
    report = run_frames(tracker, frames)[-1].updated[0]
    assert report.status is IdentityStatus.UNKNOWN
    assert report.identity is None


def test_a_stranger_becomes_unknown_with_the_leading_visitor_id() -> None:
    tracker = Tracker.new("door")
    frames = [
        [
            FaceInput(
                box=moving_box(i),
                embedding=PEOPLE["cal"],
                size_px=80,
                sharpness=200,
                score=0.9,
                candidate=MatchCandidate(None, distance=0.95, visitor_id="visitor-7"),
            )
        ]
        for i in range(3)
    ]
    report = run_frames(tracker, frames)[-1].updated[0]
    assert report.status is IdentityStatus.UNKNOWN
    assert report.visitor_id == "visitor-7"


def test_the_best_snapshot_is_the_largest_sharp_face() -> None:
    tracker = Tracker.new("door")
    frames = [
        [face("ana", (100, 100, 160, 160))],
        [face("ana", (100, 100, 190, 190))],  # larger and sharp: the best
        [face("ana", (100, 100, 200, 200), sharpness=4.0)],  # larger still, but blurred
        [face("ana", (100, 100, 170, 170))],
    ]
    results = run_frames(tracker, frames)
    assert [r.updated[0].snapshot_improved for r in results] == [True, True, False, False]
    best = results[-1].updated[0].best
    assert best is not None and best.sequence == 1


def test_decision_changed_fires_once_per_decision() -> None:
    tracker = Tracker.new("door")
    results = run_frames(tracker, [[face("ana", moving_box(i))] for i in range(6)])
    changes = [r.updated[0].decision_changed for r in results]
    assert changes.count(True) == 1
    assert results[changes.index(True)].updated[0].identity == "ana"


def test_state_round_trips_through_json_mid_track() -> None:
    frames = [[face("ana", moving_box(i)), face("ben", moving_box(i, x=400))] for i in range(6)]
    straight = Tracker.new("door")
    expected = run_frames(straight, frames)
    hopping = Tracker.new("door")
    got = []
    for index, faces in enumerate(frames):
        # Every frame handled by "another process": the state goes through JSON each time.
        hopping = Tracker.from_json(hopping.to_json())
        got.extend(run_frames(hopping, [faces], start=index))
    assert [r.model_dump() for r in got] == [r.model_dump() for r in expected]


def test_event_ids_are_deterministic_per_camera_run_and_track() -> None:
    frames = [[face("ana", moving_box(i))] for i in range(3)]
    first = run_frames(Tracker.new("door"), frames)[-1].updated[0]
    again = run_frames(Tracker.new("door"), frames)[-1].updated[0]
    other_run = run_frames(Tracker.new("door"), frames, run_id="run2")[-1].updated[0]
    assert first.event_id == again.event_id == event_id_for("door", "run1", 1)
    assert other_run.event_id != first.event_id
    assert first.track_id == "door:run1:1"


def test_stale_frames_are_recognised_within_and_across_runs() -> None:
    tracker = Tracker.new("door")
    run_frames(tracker, [[face("ana", moving_box(0))], [face("ana", moving_box(1))]])
    assert tracker.is_stale(run_id="run1", sequence=1, timestamp=999.0)
    assert not tracker.is_stale(run_id="run1", sequence=2, timestamp=100.4)
    assert tracker.is_stale(run_id="old-run", sequence=50, timestamp=99.0)
    assert not tracker.is_stale(run_id="new-run", sequence=0, timestamp=101.0)


def test_a_new_run_ends_the_previous_runs_tracks() -> None:
    tracker = Tracker.new("door")
    old = run_frames(tracker, [[face("ana", moving_box(i))] for i in range(2)])
    new = tracker.update(run_id="run2", sequence=0, timestamp=200.0, faces=[face("ana", moving_box(0))])
    assert [r.track_id for r in new.ended] == [old[0].face_tracks[0]]
    assert new.ended[0].event_id == event_id_for("door", "run1", 1)
    assert new.face_tracks == ["door:run2:1"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 1 / 3),
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
    ],
)
def test_box_iou(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float], expected: float
) -> None:
    assert box_iou(a, b) == pytest.approx(expected)
