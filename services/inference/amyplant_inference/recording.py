"""Writing a frame's tracks to the gallery: one event per track, visitors for unknown tracks, alerts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from amyplant_faces.pipeline.faces import FaceObservation
from amyplant_inference.alerts import Alert, AlertDispatcher, AlertKind, last_person_state
from amyplant_inference.tracking import FrameTracks, IdentityStatus, MatchCandidate, TrackReport
from amyplant_store.events import extend_event, find_event, upsert_event
from amyplant_store.matching import Match, match_embedding
from amyplant_store.policy import DEFAULT_TOP_K, GalleryPolicy
from amyplant_store.sightings import sighting_of
from amyplant_store.stored_images import encode_snapshot
from amyplant_store.tables import Person
from amyplant_store.visitors import assign_visitor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordedTrack:
    """What was written for one track of the frame."""

    event_id: int
    report: TrackReport
    person_name: str | None
    visitor_id: int | None

    def live_summary(self) -> dict[str, object]:
        """What the live feed says about this track now."""
        report = self.report
        return {
            "event_id": self.event_id,
            "camera_id": report.camera_id,
            "track_id": report.track_id,
            "status": str(report.status),
            "person_id": report.identity,
            "person_name": self.person_name,
            "visitor_id": self.visitor_id,
            "confidence": round(report.confidence, 3),
            "first_seen": report.first_seen,
            "last_seen": report.last_seen,
        }


def match_faces(
    session: Session, faces: Sequence[FaceObservation], *, model_version: int, policy: GalleryPolicy
) -> list[Match]:
    """Each face's nearest enrolled people among samples of the same embedder version."""
    return [
        match_embedding(
            session,
            embedding=face.embedding,
            model_version=model_version,
            threshold=policy.match_threshold,
            top_k=DEFAULT_TOP_K,
            candidates=policy.candidates,
        )
        for face in faces
    ]


def candidate_of(match: Match) -> MatchCandidate:
    """The tracker's view of a match: who passed the threshold (if anyone) and how close the nearest is."""
    if match.person is not None:
        return MatchCandidate(person_id=str(match.person.person_id), distance=match.person.distance)
    nearest = match.candidates[0].distance if match.candidates else None
    return MatchCandidate(person_id=None, distance=nearest)


class TrackRecorder:
    """Turns the tracker's reports into events (idempotent per camera and track) and alerts."""

    def __init__(self, *, policy: GalleryPolicy, alerts: AlertDispatcher | None) -> None:
        self.policy = policy
        self.alerts = alerts

    def record(
        self,
        session: Session,
        *,
        frame: np.ndarray,
        faces: Sequence[FaceObservation | None],
        tracks: FrameTracks,
        seen_at: datetime,
        model_version: int,
    ) -> list[RecordedTrack]:
        """Write the event of every confirmed track that has a face in this frame; a face given as None
        was not analysed (its track is settled, reuse.py) and only widens its event's time span."""
        reports = {report.track_id: report for report in tracks.updated}
        snapshot: bytes | None = None
        recorded = []
        for face, track_id in zip(faces, tracks.face_tracks, strict=True):
            report = reports.get(track_id)
            if report is None or not report.confirmed:
                continue
            if face is None:
                extended = self._extend_track(session, report=report, seen_at=seen_at)
                if extended is not None:
                    recorded.append(extended)
                continue
            if snapshot is None:
                snapshot = encode_snapshot(frame)
            recorded.append(
                self._record_track(
                    session,
                    face=face,
                    report=report,
                    seen_at=seen_at,
                    model_version=model_version,
                    snapshot=snapshot,
                )
            )
        return recorded

    def _record_track(
        self,
        session: Session,
        *,
        face: FaceObservation,
        report: TrackReport,
        seen_at: datetime,
        model_version: int,
        snapshot: bytes,
    ) -> RecordedTrack:
        person_id = (
            int(report.identity) if report.status is IdentityStatus.KNOWN and report.identity else None
        )
        visitor_id = None
        if report.status is IdentityStatus.UNKNOWN:
            existing = find_event(session, camera_id=report.camera_id, track_id=report.track_id)
            if existing is not None and existing.visitor_id is not None:
                visitor_id = existing.visitor_id
            else:
                visitor_id = assign_visitor(
                    session,
                    embedding=face.embedding,
                    model_version=model_version,
                    seen_at=seen_at,
                    policy=self.policy,
                ).id
        details = {
            "status": str(report.status),
            "confidence": report.confidence,
            "hits": report.hits,
            "evidence": report.evidence,
            "run_id": report.run_id,
        }
        event_id = upsert_event(
            session,
            sighting=sighting_of(
                face,
                camera_id=report.camera_id,
                track_id=report.track_id,
                seen_at=seen_at,
                model_version=model_version,
                person_id=person_id,
                visitor_id=visitor_id,
                distance=report.distance if person_id else None,
                similarity=None,
                snapshot_jpeg=snapshot,
                details=details,
            ),
        )
        person = session.get(Person, person_id) if person_id is not None else None
        return RecordedTrack(
            event_id=event_id,
            report=report,
            person_name=person.name if person else None,
            visitor_id=visitor_id,
        )

    @staticmethod
    def _extend_track(session: Session, *, report: TrackReport, seen_at: datetime) -> RecordedTrack | None:
        extended = extend_event(
            session,
            camera_id=report.camera_id,
            track_id=report.track_id,
            seen_at=seen_at,
            details={"hits": report.hits, "run_id": report.run_id},
        )
        if extended is None:
            return None
        event_id, visitor_id = extended
        person = session.get(Person, int(report.identity)) if report.identity else None
        return RecordedTrack(
            event_id=event_id,
            report=report,
            person_name=person.name if person else None,
            visitor_id=visitor_id,
        )

    def alert(self, session: Session, recorded: Sequence[RecordedTrack]) -> list[Alert]:
        """Alerts for tracks whose identity was decided now: an unknown visitor, or a flagged person."""
        sent = []
        for track in recorded:
            report = track.report
            if not report.decision_changed or self.alerts is None:
                continue
            kind: AlertKind | None = None
            if report.status is IdentityStatus.UNKNOWN:
                kind = AlertKind.UNKNOWN_VISITOR
            elif report.status is IdentityStatus.KNOWN and report.identity and self._flagged(session, report):
                kind = AlertKind.FLAGGED_PERSON
            if kind is None:
                continue
            alert = Alert.for_track(report, kind, person_name=track.person_name)
            if track.visitor_id is not None:
                alert = alert.model_copy(update={"visitor_id": str(track.visitor_id)})
            if self.alerts.dispatch(alert):
                sent.append(alert)
        return sent

    def publish_last_person(self, recorded: Sequence[RecordedTrack]) -> None:
        mqtt = self.alerts.mqtt if self.alerts is not None else None
        if mqtt is None:
            return
        for track in recorded:
            if track.report.decision_changed:
                mqtt.publish_last_person(
                    track.report.camera_id, last_person_state(track.report, person_name=track.person_name)
                )

    @staticmethod
    def _flagged(session: Session, report: TrackReport) -> bool:
        flagged = session.scalar(sa.select(Person.alert).where(Person.id == int(report.identity or 0)))
        return bool(flagged)
