"""Work per track: which faces of a frame continue a settled track and skip their analysis, and what such a
face does (and does not do) to its track."""

from __future__ import annotations

import dataclasses

import numpy as np

from amyplant_inference.reuse import ReusePolicy, plan_reuse, repeated_face, settled
from amyplant_inference.tracking import IdentityStatus, Tracker, TrackerConfig, TrackState
from tests.inference.test_tracking import face, moving_box, run_frames

FPS = 5.0
POLICY = ReusePolicy()
CONFIG = TrackerConfig()


def named_tracker(
    frames: int = 6, *, person: str = "ana", candidate: str | None = "same", distance: float = 0.35
) -> Tracker:
    """A tracker that followed one face for `frames` frames at FPS (timestamps 100.0 + i / FPS)."""
    tracker = Tracker.new("door")
    faces = [[face(person, moving_box(i), candidate=candidate, distance=distance)] for i in range(frames)]
    run_frames(tracker, faces, fps=FPS)
    return tracker


def plan(
    tracker: Tracker,
    boxes: list[tuple[float, float, float, float]],
    *,
    at_frame: int,
    run_id: str = "run1",
    policy: ReusePolicy = POLICY,
) -> list[TrackState | None]:
    timestamp = 100.0 + at_frame / FPS
    return plan_reuse(tracker.state, boxes, run_id=run_id, timestamp=timestamp, policy=policy, config=CONFIG)


def test_a_settled_named_track_lets_its_next_face_skip_analysis() -> None:
    tracker = named_tracker()
    (track,) = tracker.state.tracks
    assert track.status is IdentityStatus.KNOWN and settled(track, POLICY, CONFIG)
    assert plan(tracker, [moving_box(6)], at_frame=6) == [track]


def test_a_track_is_not_settled_before_enough_evidence_or_with_split_votes() -> None:
    young = named_tracker(frames=2)
    assert not settled(young.state.tracks[0], POLICY, CONFIG)
    assert plan(young, [moving_box(2)], at_frame=2) == [None]

    split = Tracker.new("door")
    frames = [[face("ana", moving_box(i), candidate="ana" if i % 2 else "ben")] for i in range(8)]
    run_frames(split, frames, fps=FPS)
    assert not settled(split.state.tracks[0], POLICY, CONFIG)
    assert plan(split, [moving_box(8)], at_frame=8) == [None]


def test_a_settled_unknown_track_also_skips_but_a_pending_one_does_not() -> None:
    stranger = named_tracker(candidate=None, distance=0.9)
    (track,) = stranger.state.tracks
    assert track.status is IdentityStatus.UNKNOWN
    assert plan(stranger, [moving_box(6)], at_frame=6) == [track]
    # Nobody enrolled is near, but not clearly so: the evidence stays thin and the track pending.
    unsure = named_tracker(candidate=None, distance=0.62)
    assert unsure.state.tracks[0].status is IdentityStatus.PENDING
    assert plan(unsure, [moving_box(6)], at_frame=6) == [None]


def test_the_face_is_analysed_again_after_the_refresh_interval() -> None:
    tracker = named_tracker()
    last_analysed = tracker.state.tracks[0].analysed_at
    policy = ReusePolicy(refresh_s=0.5, max_since_seen_s=10.0)
    # 0.2 s after the last analysed face: skip; 0.6 s after: analyse.
    assert plan(tracker, [moving_box(6)], at_frame=6, policy=policy) != [None]
    assert 100.0 + 8 / FPS - last_analysed > 0.5
    assert plan(tracker, [moving_box(8)], at_frame=8, policy=policy) == [None]


def test_a_grown_face_a_gap_another_face_nearby_or_another_run_means_analysis() -> None:
    tracker = named_tracker()
    x0, y0, x1, y1 = moving_box(6)
    grown = (x0 - 10, y0 - 10, x1 + 10, y1 + 10)  # 100 px against the analysed 80 px: 1.25x
    assert plan(tracker, [grown], at_frame=6) == [None]
    assert plan(tracker, [moving_box(6)], at_frame=9) == [None]  # not seen for 0.8 s
    neighbour = (x0 + 30, y0, x1 + 30, y1)
    assert plan(tracker, [moving_box(6), neighbour], at_frame=6) == [None, None]
    assert plan(tracker, [moving_box(6)], at_frame=6, run_id="run2") == [None]
    assert plan(tracker, [(400.0, 50.0, 480.0, 130.0)], at_frame=6) == [None]  # elsewhere: a new face
    assert plan(tracker, [moving_box(6)], at_frame=6, policy=ReusePolicy(refresh_s=0)) == [None]


def test_a_repeated_face_extends_its_track_without_evidence() -> None:
    tracker = named_tracker()
    (before,) = [track.model_copy(deep=True) for track in tracker.state.tracks]
    repeated = repeated_face(moving_box(6), 0.9, before)
    # Even an embedding far from the track's would not matter: the face names its track.
    far = dataclasses.replace(repeated, embedding=-np.asarray(before.embedding, dtype=np.float32))
    for candidate in (repeated, far):
        probe = Tracker.from_json(tracker.to_json())
        result = probe.update(run_id="run1", sequence=6, timestamp=100.0 + 6 / FPS, faces=[candidate])
        (after,) = probe.state.tracks
        assert result.face_tracks == [before.track_id]
        assert after.hits == before.hits + 1 and after.box == moving_box(6)
        assert after.votes == before.votes and after.embedding == before.embedding
        assert after.best == before.best and after.analysed_at == before.analysed_at
        (report,) = result.updated
        assert not report.decision_changed and not report.snapshot_improved
        assert report.identity == "ana"


def test_a_repeated_face_whose_track_ended_meanwhile_starts_a_pending_track() -> None:
    tracker = named_tracker()
    track: TrackState = tracker.state.tracks[0].model_copy(deep=True)
    later = 100.0 + 30 / FPS  # the track ended (gap) before this frame was applied
    result = tracker.update(
        run_id="run1", sequence=30, timestamp=later, faces=[repeated_face(moving_box(30), 0.9, track)]
    )
    assert result.face_tracks != [track.track_id]
    (report,) = result.updated
    assert report.status is IdentityStatus.PENDING and report.identity is None
