"""Per-camera face tracking: faces linked across frames, each track's identity decided by a weighted vote.

A `Tracker` is plain, deterministic Python over a JSON-serialisable `TrackerState`, so consecutive frames of
one camera can be handled by different worker processes (see track_store.py for how the state travels
through Redis and how frame order is kept).

Linking. Each frame's faces are linked to the camera's live tracks by box overlap (IoU) and embedding
distance, cheapest pair first (greedy: a frame holds a handful of faces, where greedy and Hungarian agree
in practice). A pair is allowed when the boxes overlap a lot and the embeddings are not far apart, when they
overlap somewhat and the embeddings agree, or, without overlap, when the embeddings agree strongly (a face
that moved fast or came back after a short gap). A track ends when it was not seen for `max_gap_s`.

Identity. The matcher gives each face a candidate: the nearest enrolled person within the threshold, or
None (nobody), with the distance. Each face votes for its candidate with a weight that grows with face size,
sharpness and how clearly the distance is on its side of the threshold. A track is named only when its
leading person holds most of the votes and enough of them; with enough evidence and no clear leader it is
"unknown" (a wrong name is worse than none); before that it is "pending". So one blurred or tiny frame,
which carries little weight, can neither name a track nor overturn a well-established name.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from amyplant_faces.pipeline.faces import FaceObservation

# Fixed namespace: event ids are uuid5(namespace, camera/run/track), the same on every machine and redo.
EVENT_NAMESPACE = uuid.UUID("6f1c2a4e-9b7d-5e3f-8a21-4c0d9e7b1a53")
UNKNOWN_VOTE = ""  # the votes key for "nobody enrolled"

Box = tuple[float, float, float, float]


class IdentityStatus(StrEnum):
    PENDING = "pending"
    KNOWN = "known"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TrackerConfig:
    """How faces are linked and how identities are voted; defaults suit ~5 fps per camera."""

    match_threshold: float = 0.6  # the matcher's threshold: distances below it name a person
    # A vote counts fully when its distance is this far on its side of the threshold (dlib descriptors:
    # the same person in video is typically 0.35-0.55 away, someone else 0.7-1.0, measured on the clip).
    full_vote_margin: float = 0.2
    link_distance: float = 0.6  # embedding distance that links a face with some box overlap
    strict_link_distance: float = 0.45  # ... and without any overlap
    loose_link_distance: float = 0.8  # ... and with a large overlap (profile or blur change the embedding)
    min_iou: float = 0.05
    high_iou: float = 0.4
    max_gap_s: float = 2.0
    min_hits: int = 2  # a track needs this many faces before it is reported as an event
    full_weight_size_px: float = 60.0  # faces this size (short side) and larger vote with full weight
    full_weight_sharpness: float = 60.0  # Laplacian variance of the chip from which a face counts as sharp
    min_identity_weight: float = 1.5  # vote weight needed before a track's identity is decided
    min_identity_share: float = 0.6  # share of the votes the leading person needs to name the track
    embedding_memory: float = 5.0  # caps the weight of a track's mean embedding so it follows slow changes


@dataclass(frozen=True)
class MatchCandidate:
    """What the matcher said about one face: a person within the threshold or None, and the distance."""

    person_id: str | None
    distance: float | None = None  # to that person, or to the nearest enrolled face when person_id is None
    visitor_id: str | None = None  # the unknown visitor this face resembles, when the matcher knows one


@dataclass(frozen=True)
class FaceInput:
    """One face of a frame as the tracker needs it."""

    box: Box
    embedding: np.ndarray
    size_px: float
    sharpness: float
    score: float
    candidate: MatchCandidate
    age: float | None = None
    female_probability: float | None = None
    # Set when the face was not analysed again because its track was settled (reuse.py): the id of that
    # track. Such a face extends the track (box, time, hits) but carries no new evidence.
    repeats_track: str | None = None

    @classmethod
    def from_observation(cls, face: FaceObservation, candidate: MatchCandidate) -> FaceInput:
        return cls(
            box=face.box,
            embedding=face.embedding,
            size_px=face.quality.size_px,
            sharpness=face.quality.sharpness,
            score=face.score,
            candidate=candidate,
            age=face.age,
            female_probability=face.female_probability,
        )


class Snapshot(BaseModel):
    """Where a track's best face is: the frame (by sequence) and the box; the caller keeps the pixels."""

    sequence: int
    timestamp: float
    box: Box
    size_px: float
    sharpness: float
    quality: float


class TrackState(BaseModel):
    """One live track, as stored between frames."""

    number: int
    track_id: str
    first_seen: float
    last_seen: float
    first_sequence: int
    last_sequence: int
    hits: int = 0
    box: Box
    embedding: list[float]
    embedding_weight: float = 0.0
    votes: dict[str, float] = Field(default_factory=dict)
    visitor_votes: dict[str, float] = Field(default_factory=dict)
    best_distance: dict[str, float] = Field(default_factory=dict)
    age_sum: float = 0.0
    age_weight: float = 0.0
    female_sum: float = 0.0
    female_weight: float = 0.0
    best: Snapshot | None = None
    analysed_at: float = 0.0  # when the track last got a face that was analysed (not repeated)
    analysed_size_px: float = 0.0  # that face's size
    status: IdentityStatus = IdentityStatus.PENDING
    identity: str | None = None
    confidence: float = 0.0
    announced: tuple[IdentityStatus, str | None] | None = None


class TrackerState(BaseModel):
    """Everything a camera's tracker remembers between frames."""

    camera_id: str
    run_id: str | None = None
    last_sequence: int = -1
    last_timestamp: float = 0.0
    next_number: int = 1
    tracks: list[TrackState] = Field(default_factory=list)


class TrackReport(BaseModel):
    """What the worker needs to write or update a track's event."""

    track_id: str
    event_id: str
    camera_id: str
    run_id: str
    first_seen: float
    last_seen: float
    first_sequence: int
    last_sequence: int
    hits: int
    confirmed: bool
    ended: bool
    status: IdentityStatus
    identity: str | None
    confidence: float  # the leading candidate's share of the votes
    evidence: float  # the total vote weight
    distance: float | None  # best distance to the named person
    visitor_id: str | None
    age: float | None
    female_probability: float | None
    box: Box
    best: Snapshot | None
    snapshot_improved: bool  # this frame holds the track's best face so far: keep its crop
    decision_changed: bool  # a confirmed track's identity was decided or changed now: alert on this
    embedding: list[float]


class FrameTracks(BaseModel):
    """The tracker's answer for one frame."""

    camera_id: str
    run_id: str
    sequence: int
    timestamp: float
    face_tracks: list[str]  # the track id of each input face, in input order
    updated: list[TrackReport]
    ended: list[TrackReport]


def event_id_for(camera_id: str, run_id: str, track_number: int) -> str:
    """The same id for the same track however often its frames are redone."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{camera_id}/{run_id}/{track_number}"))


def box_iou(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class Tracker:
    """One camera's tracks; update() once per frame, in sequence order."""

    def __init__(self, state: TrackerState, config: TrackerConfig | None = None) -> None:
        self.state = state
        self.config = config or TrackerConfig()

    @classmethod
    def new(cls, camera_id: str, config: TrackerConfig | None = None) -> Tracker:
        return cls(TrackerState(camera_id=camera_id), config)

    @classmethod
    def from_json(cls, data: str | bytes, config: TrackerConfig | None = None) -> Tracker:
        return cls(TrackerState.model_validate_json(data), config)

    def to_json(self) -> str:
        return self.state.model_dump_json()

    def is_stale(self, *, run_id: str, sequence: int, timestamp: float) -> bool:
        """Whether a frame is older than the last one applied (within a run by sequence, across by time)."""
        if self.state.run_id is None:
            return False
        if run_id == self.state.run_id:
            return sequence <= self.state.last_sequence
        return timestamp <= self.state.last_timestamp

    def update(
        self, *, run_id: str, sequence: int, timestamp: float, faces: Sequence[FaceInput]
    ) -> FrameTracks:
        """Apply one frame: end stale tracks, link faces, vote, start tracks for faces that link to none."""
        state = self.state
        ended: list[TrackReport] = []
        if state.run_id != run_id:
            # A new capture run restarts numbering; the previous run's tracks are over.
            ended = [self._report(track, state.run_id or run_id, ended=True) for track in state.tracks]
            state.run_id, state.tracks, state.next_number = run_id, [], 1
        alive: list[TrackState] = []
        for track in state.tracks:
            if timestamp - track.last_seen > self.config.max_gap_s:
                ended.append(self._report(track, run_id, ended=True))
            else:
                alive.append(track)
        state.tracks = alive

        links = self._link(state.tracks, faces)
        face_tracks: list[str] = []
        updated: list[TrackReport] = []
        for index, face in enumerate(faces):
            track = links.get(index) or self._start(face, sequence=sequence, timestamp=timestamp)
            if index not in links:
                state.tracks.append(track)
            improved = self._observe(track, face, sequence=sequence, timestamp=timestamp)
            face_tracks.append(track.track_id)
            updated.append(self._report(track, run_id, ended=False, improved=improved))
        state.last_sequence, state.last_timestamp = sequence, timestamp
        return FrameTracks(
            camera_id=state.camera_id,
            run_id=run_id,
            sequence=sequence,
            timestamp=timestamp,
            face_tracks=face_tracks,
            updated=updated,
            ended=ended,
        )

    def end_all(self) -> list[TrackReport]:
        """End every live track (the camera stopped); returns their final reports."""
        run_id = self.state.run_id or ""
        reports = [self._report(track, run_id, ended=True) for track in self.state.tracks]
        self.state.tracks = []
        return reports

    # --- linking -------------------------------------------------------------------------------------

    def _linkable(self, iou: float, distance: float) -> bool:
        cfg = self.config
        if iou >= cfg.high_iou:
            return distance <= cfg.loose_link_distance
        if iou >= cfg.min_iou:
            return distance <= cfg.link_distance
        return distance <= cfg.strict_link_distance

    def _link(self, tracks: list[TrackState], faces: Sequence[FaceInput]) -> dict[int, TrackState]:
        links: dict[int, TrackState] = {}
        taken: set[int] = set()
        by_id = {track.track_id: t_index for t_index, track in enumerate(tracks)}
        for f_index, face in enumerate(faces):
            t_index = by_id.get(face.repeats_track or "", -1)
            if t_index >= 0 and t_index not in taken:
                links[f_index] = tracks[t_index]
                taken.add(t_index)
        pairs: list[tuple[float, int, int]] = []
        for t_index, track in enumerate(tracks):
            mean = np.asarray(track.embedding, dtype=np.float32)
            for f_index, face in enumerate(faces):
                if f_index in links or t_index in taken:
                    continue
                iou = box_iou(track.box, face.box)
                distance = float(np.linalg.norm(mean - face.embedding))
                if self._linkable(iou, distance):
                    cost = 0.5 * (1.0 - iou) + 0.5 * distance / self.config.link_distance
                    pairs.append((cost, t_index, f_index))
        for _, t_index, f_index in sorted(pairs):
            if f_index not in links and t_index not in taken:
                links[f_index] = tracks[t_index]
                taken.add(t_index)
        return links

    def _start(self, face: FaceInput, *, sequence: int, timestamp: float) -> TrackState:
        state = self.state
        number = state.next_number
        state.next_number += 1
        return TrackState(
            number=number,
            track_id=f"{state.camera_id}:{state.run_id}:{number}",
            first_seen=timestamp,
            last_seen=timestamp,
            first_sequence=sequence,
            last_sequence=sequence,
            box=face.box,
            embedding=[float(v) for v in face.embedding],
        )

    # --- evidence ------------------------------------------------------------------------------------

    def face_weight(self, face: FaceInput) -> float:
        """How much a face counts: small or blurred faces count little."""
        cfg = self.config
        size = float(np.clip(face.size_px / cfg.full_weight_size_px, 0.05, 1.0))
        sharp = float(np.clip(face.sharpness / cfg.full_weight_sharpness, 0.05, 1.0))
        return size * sharp

    def candidate_confidence(self, candidate: MatchCandidate) -> float:
        """How clearly the distance is on its side of the threshold: 0.1 (at it) to 1 (a full margin away)."""
        if candidate.distance is None:
            return 1.0
        threshold = self.config.match_threshold
        margin = threshold - candidate.distance if candidate.person_id else candidate.distance - threshold
        return float(np.clip(margin / self.config.full_vote_margin, 0.1, 1.0))

    def _observe(self, track: TrackState, face: FaceInput, *, sequence: int, timestamp: float) -> bool:
        track.hits += 1
        track.last_seen, track.last_sequence, track.box = timestamp, sequence, face.box
        if face.repeats_track is not None:
            return False  # no new evidence: the track's embedding, votes and best face stay
        track.analysed_at, track.analysed_size_px = timestamp, face.size_px
        weight = self.face_weight(face)
        total = track.embedding_weight + weight
        mean = (np.asarray(track.embedding) * track.embedding_weight + face.embedding * weight) / total
        track.embedding = [float(v) for v in mean]
        track.embedding_weight = min(total, self.config.embedding_memory)
        self._vote(track, face, weight)
        if face.age is not None:
            track.age_sum += face.age * weight
            track.age_weight += weight
        if face.female_probability is not None:
            track.female_sum += face.female_probability * weight
            track.female_weight += weight
        return self._keep_best(track, face, sequence=sequence, timestamp=timestamp)

    def _vote(self, track: TrackState, face: FaceInput, weight: float) -> None:
        candidate = face.candidate
        key = candidate.person_id or UNKNOWN_VOTE
        track.votes[key] = track.votes.get(key, 0.0) + weight * self.candidate_confidence(candidate)
        if candidate.person_id and candidate.distance is not None:
            best = track.best_distance.get(candidate.person_id, candidate.distance)
            track.best_distance[candidate.person_id] = min(best, candidate.distance)
        if candidate.person_id is None and candidate.visitor_id:
            visitor = candidate.visitor_id
            track.visitor_votes[visitor] = track.visitor_votes.get(visitor, 0.0) + weight
        self._decide(track)

    def _decide(self, track: TrackState) -> None:
        cfg = self.config
        total = sum(track.votes.values())
        leader, weight = max(track.votes.items(), key=lambda item: item[1], default=(UNKNOWN_VOTE, 0.0))
        share = weight / total if total > 0 else 0.0
        track.confidence = share
        if total < cfg.min_identity_weight:
            track.status, track.identity = IdentityStatus.PENDING, None
        elif leader != UNKNOWN_VOTE and share >= cfg.min_identity_share and weight >= cfg.min_identity_weight:
            track.status, track.identity = IdentityStatus.KNOWN, leader
        else:
            # Enough evidence but no clear person: unknown, never a guessed name.
            track.status, track.identity = IdentityStatus.UNKNOWN, None

    def _keep_best(self, track: TrackState, face: FaceInput, *, sequence: int, timestamp: float) -> bool:
        # The largest sharp face: size, scaled down for blur.
        sharp = min(1.0, face.sharpness / self.config.full_weight_sharpness)
        quality = face.size_px * sharp
        if track.best is not None and quality <= track.best.quality:
            return False
        track.best = Snapshot(
            sequence=sequence,
            timestamp=timestamp,
            box=face.box,
            size_px=face.size_px,
            sharpness=face.sharpness,
            quality=quality,
        )
        return True

    # --- reports -------------------------------------------------------------------------------------

    def _report(self, track: TrackState, run_id: str, *, ended: bool, improved: bool = False) -> TrackReport:
        confirmed = track.hits >= self.config.min_hits
        decision = (track.status, track.identity)
        changed = confirmed and track.status is not IdentityStatus.PENDING and decision != track.announced
        if changed:
            track.announced = decision
        votes = track.visitor_votes
        visitor = max(votes, key=votes.__getitem__) if votes else None
        return TrackReport(
            track_id=track.track_id,
            event_id=event_id_for(self.state.camera_id, run_id, track.number),
            camera_id=self.state.camera_id,
            run_id=run_id,
            first_seen=track.first_seen,
            last_seen=track.last_seen,
            first_sequence=track.first_sequence,
            last_sequence=track.last_sequence,
            hits=track.hits,
            confirmed=confirmed,
            ended=ended,
            status=track.status,
            identity=track.identity,
            confidence=track.confidence,
            evidence=sum(track.votes.values()),
            distance=track.best_distance.get(track.identity) if track.identity else None,
            visitor_id=visitor if track.status is IdentityStatus.UNKNOWN else None,
            age=track.age_sum / track.age_weight if track.age_weight > 0 else None,
            female_probability=track.female_sum / track.female_weight if track.female_weight > 0 else None,
            box=track.box,
            best=track.best,
            snapshot_improved=improved,
            decision_changed=changed,
            embedding=track.embedding,
        )
