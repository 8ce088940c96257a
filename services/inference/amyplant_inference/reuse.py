"""Work per track, not per frame: which of a frame's faces belong to a settled track and need no analysis.

Landmarks, the chip, the embedding, the attributes and the match cost ~60 ms of CPU per face; a face that
the tracker follows frame after frame and has already named (or found to be nobody enrolled) with
confidence adds nothing to what the track knows. Such a face is only detected: it extends its track
(box, time, hits) and carries no vote. It is analysed again when its track's last analysed face is
`refresh_s` old, when it grew by `growth` (a nearer, better face), or when anything makes the pairing
doubtful (another track or face nearby, the track not seen in the last frames). The plan is made from
the camera's tracker state as last stored, outside the tracking lock: a track that ended meanwhile only
means the face is linked the ordinary way (tracking.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from amyplant_inference.tracking import (
    UNKNOWN_VOTE,
    Box,
    FaceInput,
    IdentityStatus,
    MatchCandidate,
    TrackerConfig,
    TrackerState,
    TrackState,
    box_iou,
)


@dataclass(frozen=True)
class ReusePolicy:
    """When a tracked face may skip its analysis; `refresh_s` 0 analyses every face of every frame."""

    refresh_s: float = 1.0  # a settled track still gets an analysed face at least this often
    min_share: float = 0.8  # the track's leading vote (a person, or nobody) holds this share of its votes
    min_evidence: float = 3.0  # ... of at least this much vote weight (two full faces make 2.0)
    min_iou: float = 0.5  # the face overlaps its track's last box this much
    clear_iou: float = 0.1  # and nothing else (face or track) overlaps either of them this much
    max_since_seen_s: float = 0.5  # the track was seen this recently (no gap to bridge)
    growth: float = 1.2  # a face this much larger than the last analysed one is analysed again

    @property
    def enabled(self) -> bool:
        return self.refresh_s > 0


def settled(track: TrackState, policy: ReusePolicy, config: TrackerConfig) -> bool:
    """Whether the track's identity is decided clearly enough that another face of it adds nothing."""
    if track.status is IdentityStatus.PENDING or track.hits < config.min_hits:
        return False
    evidence = sum(track.votes.values())
    leader = track.identity if track.status is IdentityStatus.KNOWN else UNKNOWN_VOTE
    if leader is None or evidence < policy.min_evidence:
        return False
    return track.votes.get(leader, 0.0) / evidence >= policy.min_share


def plan_reuse(
    state: TrackerState,
    boxes: Sequence[Box],
    *,
    run_id: str,
    timestamp: float,
    policy: ReusePolicy,
    config: TrackerConfig,
) -> list[TrackState | None]:
    """For each box, the settled track it continues (its analysis can be skipped), or None (analyse it)."""
    plan: list[TrackState | None] = [None] * len(boxes)
    if not policy.enabled or state.run_id != run_id:
        return plan
    tracks = state.tracks
    overlaps = [[box_iou(track.box, box) for box in boxes] for track in tracks]
    for t_index, track in enumerate(tracks):
        if not _fresh(track, timestamp, policy) or not settled(track, policy, config):
            continue
        row = overlaps[t_index]
        for f_index, box in enumerate(boxes):
            if row[f_index] < policy.min_iou:
                continue
            others_near_face = any(
                overlaps[other][f_index] >= policy.clear_iou
                for other in range(len(tracks))
                if other != t_index
            )
            others_near_track = any(
                iou >= policy.clear_iou for index, iou in enumerate(row) if index != f_index
            )
            grown = _size(box) > policy.growth * track.analysed_size_px
            if not (others_near_face or others_near_track or grown):
                plan[f_index] = track
    return plan


def _fresh(track: TrackState, timestamp: float, policy: ReusePolicy) -> bool:
    since_seen = timestamp - track.last_seen
    return 0 < since_seen <= policy.max_since_seen_s and timestamp - track.analysed_at < policy.refresh_s


def _size(box: Box) -> float:
    # The same measure as FaceQuality.size_px: the box's shorter side.
    return float(min(box[2] - box[0], box[3] - box[1]))


def repeated_face(box: Box, score: float, track: TrackState) -> FaceInput:
    """The tracker's input for a face of `track` that was not analysed: its box, the track's mean embedding
    (so the ordinary linking still finds the track if it ended meanwhile) and no new evidence."""
    return FaceInput(
        box=box,
        embedding=np.asarray(track.embedding, dtype=np.float32),
        size_px=_size(box),
        sharpness=0.0,
        score=score,
        candidate=MatchCandidate(person_id=track.identity),
        repeats_track=track.track_id,
    )
