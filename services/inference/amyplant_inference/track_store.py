"""Each camera's tracker state in Redis, applied one frame at a time under a per-camera lock.

Workers scale across cameras, and any worker may take any frame, so two frames of one camera can be in
flight at once. The expensive part (detection, embeddings, matching) runs outside any lock; only the
tracker update, a few milliseconds, runs under the camera's lock. Frame order is kept like this:

- A frame waits briefly (`reorder_wait_s`, default 0.15 s) before taking the lock when the frame just
  before it has not been applied yet, which puts back in order the frames that two workers finish almost
  together. It does not wait longer: the predecessor may have been dropped by the capture's bounded
  backlog, or skipped because its key expired, and waiting for it would delay every later frame. When
  the caller names the predecessor's frame key and that frame is neither waiting nor taken, it does not
  wait at all: a frame in flight keeps its (taken) key until after it is applied, so a frame gone from
  Redis was dropped or already done.
- A frame older than the last one applied (same capture run: a lower sequence; another run: an earlier
  capture time) is dropped from tracking and reported as stale. Tracks survive gaps of `max_gap_s`, so a
  missing frame costs nothing but its own observations, while applying it late would move tracks
  backwards in time.
- A frame that was already applied (a worker was killed after the update and the frame was redelivered)
  gets the stored answer of its first application back, so the events and alerts written from it are
  the same and are written idempotently; the last `results_kept` answers per camera are kept.

The state is written with WATCH/MULTI as well as under the lock, so a worker whose lock expired (it
stalled longer than `lock_timeout_s`) fails with TrackStoreBusy instead of overwriting a newer state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis
from redis.exceptions import LockError, WatchError

from amyplant_inference.tracking import FaceInput, FrameTracks, Tracker, TrackerConfig
from amyplant_queue.frames import frame_in_flight

KEY_PREFIX = "amyplant:tracks:"


class TrackStoreBusy(RuntimeError):
    """The camera's lock could not be taken or was lost; the frame should be retried."""


class Outcome(StrEnum):
    APPLIED = "applied"
    REPLAYED = "replayed"  # applied before; the stored answer is returned
    STALE = "stale"  # older than the last applied frame; dropped from tracking


@dataclass(frozen=True)
class AppliedFrame:
    outcome: Outcome
    tracks: FrameTracks | None


@dataclass(frozen=True)
class CameraKeys:
    """The Redis keys of one camera's tracking state."""

    state: str
    position: str
    results: str
    order: str
    lock: str

    @classmethod
    def of(cls, camera_id: str) -> CameraKeys:
        base = f"{KEY_PREFIX}{camera_id}:"
        return cls(
            state=base + "state",
            position=base + "position",
            results=base + "results",
            order=base + "results_order",
            lock=base + "lock",
        )


class TrackStore:
    """Loads, updates and saves camera trackers in Redis; safe to use from many worker processes."""

    def __init__(
        self,
        client: redis.Redis,
        config: TrackerConfig | None = None,
        *,
        lock_timeout_s: float = 10.0,
        lock_wait_s: float = 5.0,
        reorder_wait_s: float = 0.15,
        state_ttl_s: int = 3600,
        results_kept: int = 64,
    ) -> None:
        self.redis = client
        self.config = config or TrackerConfig()
        self.lock_timeout_s = lock_timeout_s
        self.lock_wait_s = lock_wait_s
        self.reorder_wait_s = reorder_wait_s
        self.state_ttl_s = state_ttl_s
        self.results_kept = results_kept

    def apply(
        self,
        *,
        camera_id: str,
        run_id: str,
        sequence: int,
        timestamp: float,
        faces: Sequence[FaceInput],
        predecessor_key: str | None = None,
    ) -> AppliedFrame:
        """Apply one frame's faces to its camera's tracker, in order; see the module docstring."""
        keys = CameraKeys.of(camera_id)
        field = f"{run_id}:{sequence}"
        stored = self._stored_answer(keys, field)
        if stored is not None:
            return AppliedFrame(Outcome.REPLAYED, stored)
        self._wait_for_predecessor(keys, run_id, sequence, predecessor_key)
        lock = self.redis.lock(keys.lock, timeout=self.lock_timeout_s, blocking_timeout=self.lock_wait_s)
        if not lock.acquire():
            raise TrackStoreBusy(f"camera {camera_id}: tracking lock not free after {self.lock_wait_s} s")
        try:
            return self._apply_locked(
                keys,
                field,
                lock,
                camera_id=camera_id,
                run_id=run_id,
                sequence=sequence,
                timestamp=timestamp,
                faces=faces,
            )
        finally:
            # An expired lock cannot be released; the WATCH already kept us from writing over anyone.
            with contextlib.suppress(LockError):
                lock.release()

    def load(self, camera_id: str) -> Tracker:
        """The camera's current tracker (a fresh one when none is stored); for reading only."""
        data = self.redis.get(CameraKeys.of(camera_id).state)
        if data is None:
            return Tracker.new(camera_id, self.config)
        return Tracker.from_json(data, self.config)  # type: ignore[arg-type]

    def clear(self, camera_id: str) -> None:
        keys = CameraKeys.of(camera_id)
        self.redis.delete(keys.state, keys.position, keys.results, keys.order)

    def _stored_answer(self, keys: CameraKeys, field: str) -> FrameTracks | None:
        data = self.redis.hget(keys.results, field)
        return FrameTracks.model_validate_json(data) if data is not None else None  # type: ignore[arg-type]

    def _position(self, keys: CameraKeys) -> tuple[str, int] | None:
        data = self.redis.get(keys.position)
        if data is None:
            return None
        run_id, _, sequence = bytes(data).decode().rpartition(":")  # type: ignore[arg-type]
        return run_id, int(sequence)

    def _wait_for_predecessor(
        self, keys: CameraKeys, run_id: str, sequence: int, predecessor_key: str | None
    ) -> None:
        deadline = time.monotonic() + self.reorder_wait_s
        while time.monotonic() < deadline:
            position = self._position(keys)
            if position is None or position[0] != run_id or position[1] >= sequence - 1:
                return
            # Checked after the position: a predecessor releases its frame only once it has been applied.
            if predecessor_key is not None and not frame_in_flight(self.redis, predecessor_key):
                return
            time.sleep(0.01)

    def _apply_locked(
        self,
        keys: CameraKeys,
        field: str,
        lock: redis.lock.Lock,
        *,
        camera_id: str,
        run_id: str,
        sequence: int,
        timestamp: float,
        faces: Sequence[FaceInput],
    ) -> AppliedFrame:
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(keys.state, keys.results)  # type: ignore[no-untyped-call]
                stored = pipe.hget(keys.results, field)
                if stored is not None:  # the same frame was delivered twice at once
                    return AppliedFrame(Outcome.REPLAYED, FrameTracks.model_validate_json(stored))
                data = pipe.get(keys.state)
                tracker = (
                    Tracker.from_json(data, self.config)
                    if data is not None
                    else Tracker.new(camera_id, self.config)
                )
                if tracker.is_stale(run_id=run_id, sequence=sequence, timestamp=timestamp):
                    return AppliedFrame(Outcome.STALE, None)
                tracks = tracker.update(run_id=run_id, sequence=sequence, timestamp=timestamp, faces=faces)
                trimmed = self._fields_to_trim(pipe, keys)
                if not lock.owned():
                    raise TrackStoreBusy(f"camera {camera_id}: tracking lock expired during the update")
                pipe.multi()
                pipe.set(keys.state, tracker.to_json(), ex=self.state_ttl_s)
                pipe.set(keys.position, field, ex=self.state_ttl_s)
                pipe.hset(keys.results, field, tracks.model_dump_json())
                pipe.rpush(keys.order, field)
                if trimmed:
                    pipe.hdel(keys.results, *trimmed)
                    pipe.ltrim(keys.order, len(trimmed), -1)
                pipe.expire(keys.results, self.state_ttl_s)
                pipe.expire(keys.order, self.state_ttl_s)
                pipe.execute()
            except WatchError as error:
                raise TrackStoreBusy(f"camera {camera_id}: tracking state changed under us") from error
        return AppliedFrame(Outcome.APPLIED, tracks)

    def _fields_to_trim(self, pipe: redis.client.Pipeline, keys: CameraKeys) -> list[bytes]:
        count = int(pipe.llen(keys.order))
        excess = count + 1 - self.results_kept
        if excess <= 0:
            return []
        return [bytes(field) for field in pipe.lrange(keys.order, 0, excess - 1)]  # type: ignore[arg-type]
