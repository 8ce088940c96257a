"""Motion gating: sensor noise and lighting changes are not motion, a person-sized change is, masks hide."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
from skimage import data as skimage_data

from amyplant_capture.motion import MotionConfig, MotionGate, Verdict, heartbeat_phase

QUIET = MotionConfig(heartbeat_s=0, keep_moving_frames=0)


def scene() -> np.ndarray:
    """A real photo (skimage's astronaut, RGB to BGR) as the still scene, 512 x 512."""
    rgb = np.asarray(skimage_data.astronaut())  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(rgb[:, :, ::-1])


def noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float = 4.0) -> np.ndarray:
    return np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)


def with_box(frame: np.ndarray, left: int, top: int, size: int = 90) -> np.ndarray:
    """The scene with a dark, person-sized block in it."""
    changed = frame.copy()
    changed[top : top + 2 * size, left : left + size] = 20
    return changed


def test_a_still_scene_with_sensor_noise_is_still() -> None:
    rng = np.random.default_rng(1)
    gate = MotionGate(QUIET)
    base = scene()
    verdicts = [gate.check(noisy(base, rng), at=i / 5) for i in range(60)]
    assert verdicts[0] is Verdict.MOTION  # the first frame of a run is always looked at
    assert set(verdicts[1:]) == {Verdict.STILL}


def test_someone_walking_through_is_motion_and_the_scene_settles_after() -> None:
    rng = np.random.default_rng(2)
    gate = MotionGate(QUIET)
    base = scene()
    for i in range(10):
        gate.check(noisy(base, rng), at=i / 5)
    walking = [gate.check(noisy(with_box(base, 40 + 30 * i, 150), rng), at=2 + i / 5) for i in range(10)]
    assert walking.count(Verdict.MOTION) == 10
    after = [gate.check(noisy(base, rng), at=4 + i / 5) for i in range(80)]
    assert after[-20:] == [Verdict.STILL] * 20  # the background caught up with the empty scene again


def test_a_lighting_change_restarts_the_background_without_sending() -> None:
    rng = np.random.default_rng(3)
    gate = MotionGate(QUIET)
    base = scene()
    gate.check(noisy(base, rng), at=0)
    brighter = np.clip(base.astype(np.int16) + 70, 0, 255).astype(np.uint8)
    assert gate.check(noisy(brighter, rng), at=0.2) is Verdict.LIGHTING
    assert gate.check(noisy(brighter, rng), at=0.4) is Verdict.STILL


def test_motion_inside_a_mask_is_ignored() -> None:
    rng = np.random.default_rng(4)
    base = scene()
    # The block below covers x 100-190, y 150-330 of 512: a mask over the left half hides it.
    masked = MotionGate(
        QUIET.model_copy(update={"masks": [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]})
    )
    plain = MotionGate(QUIET)
    for gate in (masked, plain):
        gate.check(noisy(base, rng), at=0)
    moved = noisy(with_box(base, 100, 150), rng)
    assert masked.check(moved, at=0.2) is Verdict.STILL
    assert plain.check(moved, at=0.2) is Verdict.MOTION


def test_frames_after_motion_and_heartbeats_are_sent() -> None:
    rng = np.random.default_rng(5)
    gate = MotionGate(MotionConfig(heartbeat_s=10, keep_moving_frames=3))
    base = scene()
    gate.check(noisy(base, rng), at=0)
    assert gate.check(noisy(with_box(base, 200, 100), rng), at=0.2) is Verdict.MOTION
    tail = [gate.check(noisy(base, rng), at=0.4 + i / 5) for i in range(5)]
    assert tail[:3] == [Verdict.MOTION] * 3  # a face that stopped moving is still looked at a while
    still = [gate.check(noisy(base, rng), at=2 + i) for i in range(20)]
    assert still.count(Verdict.HEARTBEAT) == 2  # at about 10 s and 20 s after the last frame sent
    assert set(still) == {Verdict.STILL, Verdict.HEARTBEAT}


def test_disabled_or_unknown_options_are_refused_or_respected() -> None:
    with pytest.raises(pydantic.ValidationError):
        MotionConfig.model_validate({"threshold": 3})  # not a field: a typo must not pass silently
    with pytest.raises(pydantic.ValidationError):
        MotionConfig.model_validate({"min_area": 0})
    assert MotionConfig.model_validate({"enabled": False}).enabled is False


def test_a_lasting_change_of_the_scene_becomes_the_background() -> None:
    rng = np.random.default_rng(6)
    gate = MotionGate(QUIET.model_copy(update={"settle_frames": 3}))
    base = scene()
    gate.check(noisy(base, rng), at=0)
    moved = with_box(base, 300, 200)  # a chair put down: different from the background, then unchanging
    verdicts = [gate.check(noisy(moved, rng), at=0.2 + i / 5) for i in range(8)]
    assert verdicts[0] is Verdict.MOTION
    # A change made in one frame settles at its first steady frame (not after 40 frames at 5% a frame).
    assert verdicts[1:] == [Verdict.STILL] * 7


def test_a_lighting_step_in_part_of_the_scene_sends_one_frame() -> None:
    # Under `lighting_area`, so not a lighting change: the dark and clipped parts of a scene do not
    # change when a lamp is switched on. Default options: frames after motion are kept (5).
    rng = np.random.default_rng(9)
    gate = MotionGate(MotionConfig(heartbeat_s=0))
    base = scene()
    for i in range(5):
        gate.check(noisy(base, rng), at=i / 5)
    lit = base.copy()
    lit[:, :200] = np.clip(lit[:, :200].astype(np.int16) + 60, 0, 255).astype(np.uint8)
    verdicts = [gate.check(noisy(lit, rng), at=1 + i / 5) for i in range(12)]
    assert verdicts[0] is Verdict.MOTION and verdicts[1:] == [Verdict.STILL] * 11


def test_someone_who_walks_in_and_stops_is_sent_until_well_after_they_stop() -> None:
    rng = np.random.default_rng(10)
    config = MotionConfig(heartbeat_s=0)
    gate = MotionGate(config)
    base = scene()
    for i in range(5):
        gate.check(noisy(base, rng), at=i / 5)
    walking = [gate.check(noisy(with_box(base, 40 + 30 * i, 150), rng), at=1 + i / 5) for i in range(6)]
    standing = with_box(base, 40 + 30 * 5, 150)
    stopped = [gate.check(noisy(standing, rng), at=3 + i / 5) for i in range(15)]
    assert walking == [Verdict.MOTION] * 6
    # Sent while steady (the first standing frame is the last walking position, so steady already) until
    # the settle_frames-th steady frame absorbs them into the background, then keep_moving_frames more.
    sent = config.settle_frames - 1 + config.keep_moving_frames
    assert stopped[:sent] == [Verdict.MOTION] * sent
    assert stopped[sent:] == [Verdict.STILL] * (15 - sent)


def test_heartbeats_of_cameras_started_together_are_spread() -> None:
    rng = np.random.default_rng(8)
    base = scene()
    phases = [heartbeat_phase(f"door-{index}") for index in range(8)]
    assert all(0 <= phase < 1 for phase in phases) and len(set(phases)) == 8
    assert heartbeat_phase("door-1") == phases[1]  # stable for a camera
    first_heartbeats = []
    for phase in phases:
        gate = MotionGate(MotionConfig(heartbeat_s=10, keep_moving_frames=0), heartbeat_phase=phase)
        gate.check(noisy(base, rng), at=0)
        first = next(t for t in range(1, 12) if gate.check(noisy(base, rng), at=t) is Verdict.HEARTBEAT)
        first_heartbeats.append(first)
    assert len(set(first_heartbeats)) >= 4  # not all at 10 s
