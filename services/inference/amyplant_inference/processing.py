"""What a worker does with one frame: load it by reference, find and name faces, track, record, alert."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from amyplant_faces.models.client import EMBEDDER, Detection, ModelClient, ModelServerError
from amyplant_faces.pipeline.faces import FaceObservation, FacePipeline
from amyplant_inference.annotate import FaceLabel, draw_faces
from amyplant_inference.metrics import WorkerMetrics
from amyplant_inference.recording import RecordedTrack, TrackRecorder, candidate_of, match_faces
from amyplant_inference.reuse import ReusePolicy, plan_reuse, repeated_face
from amyplant_inference.track_store import Outcome, TrackStore
from amyplant_inference.tracking import FaceInput, FrameTracks, TrackState
from amyplant_queue.annotated_frames import AnnotatedFrames
from amyplant_queue.frames import decode_image, release_frame, take_frame_bytes
from amyplant_queue.live_feed import publish_sightings
from amyplant_queue.messages import FrameMessage, frame_key

LATEST_RESULT_KEY = "amyplant:camera:{camera_id}:latest"


@dataclass(frozen=True)
class FrameResult:
    """What one frame yielded."""

    camera_id: str
    sequence: int
    faces: int
    repeated: int  # faces of settled tracks, detected but not analysed again
    outcome: str
    events: int
    alerts: int
    elapsed_ms: float


@dataclass
class FrameProcessor:
    """Holds the per-process resources and handles frames one at a time."""

    redis: redis.Redis
    pipeline: FacePipeline
    models: ModelClient
    engine: sa.Engine
    tracks: TrackStore
    recorder: TrackRecorder
    annotated: AnnotatedFrames
    reuse: ReusePolicy = field(default_factory=ReusePolicy)
    metrics: WorkerMetrics | None = None

    def process(self, message: FrameMessage) -> FrameResult:
        started = time.perf_counter()
        stage = self._stage
        with stage("read"):
            data = take_frame_bytes(self.redis, message.frame_key)
        with stage("decode"):
            image = decode_image(data)
        detections = self.pipeline.detect(image)
        with stage("plan"):
            repeats = self._plan_reuse(message, detections)
        with stage("describe"):
            fresh = [detection for detection, track in zip(detections, repeats, strict=True) if track is None]
            observed = self.pipeline.describe(image, fresh)
        version = self._embedder_version()
        with stage("match"), Session(self.engine) as session, session.begin():
            matches = match_faces(session, observed, model_version=version, policy=self.recorder.policy)
        inputs = [
            FaceInput.from_observation(f, candidate_of(m)) for f, m in zip(observed, matches, strict=True)
        ]
        faces: list[FaceObservation | None] = list(observed)
        for detection, track in zip(detections, repeats, strict=True):
            if track is not None:
                inputs.append(repeated_face(detection.box, detection.score, track))
                faces.append(None)
        with stage("track"):
            applied = self.tracks.apply(
                camera_id=message.camera_id,
                run_id=message.run_id,
                sequence=message.sequence,
                timestamp=message.captured_at.timestamp(),
                faces=inputs,
                predecessor_key=frame_key(message.camera_id, message.sequence - 1, message.run_id),
            )
        recorded: list[RecordedTrack] = []
        alerts = 0
        if applied.tracks is not None and applied.outcome is not Outcome.STALE:
            with stage("record"), Session(self.engine) as session, session.begin():
                recorded = self.recorder.record(
                    session,
                    frame=image,
                    faces=faces,
                    tracks=applied.tracks,
                    seen_at=message.captured_at,
                    model_version=version,
                )
                alerts = len(self.recorder.alert(session, recorded))
            with stage("publish"):
                self.recorder.publish_last_person(recorded)
                publish_sightings(self.redis, [track.live_summary() for track in recorded])
            with stage("annotate"):
                self._show(message, image, inputs, applied.tracks, recorded)
        self._count(message, inputs, applied.outcome)
        with stage("release"):
            release_frame(self.redis, message.frame_key)
        return FrameResult(
            camera_id=message.camera_id,
            sequence=message.sequence,
            faces=len(inputs),
            repeated=len(inputs) - len(observed),
            outcome=str(applied.outcome),
            events=len(recorded),
            alerts=alerts,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def _stage(self, name: str) -> AbstractContextManager[None]:
        """A timed stage when the worker keeps metrics (bench/frame_profile.py reads them)."""
        return self.metrics.stage(name) if self.metrics is not None else nullcontext()

    def _plan_reuse(self, message: FrameMessage, detections: list[Detection]) -> list[TrackState | None]:
        """Which detections continue a settled track and need no analysis (reuse.py)."""
        if not detections or not self.reuse.enabled:
            return [None] * len(detections)
        return plan_reuse(
            self.tracks.load(message.camera_id).state,
            [detection.box for detection in detections],
            run_id=message.run_id,
            timestamp=message.captured_at.timestamp(),
            policy=self.reuse,
            config=self.tracks.config,
        )

    def _embedder_version(self) -> int:
        model = self.models.status().model(EMBEDDER)
        if model is None or model.serving_version is None:
            raise ModelServerError("no face_embedder version is being served")
        return model.serving_version

    def _show(
        self,
        message: FrameMessage,
        image: np.ndarray,
        faces: list[FaceInput],
        tracks: FrameTracks,
        recorded: list[RecordedTrack],
    ) -> None:
        """The live view: the annotated frame and a JSON summary of the latest frame of the camera."""
        names = {track.report.track_id: track.person_name for track in recorded}
        visitors = {track.report.track_id: track.visitor_id for track in recorded}
        reports = {report.track_id: report for report in tracks.updated}
        labels = []
        for face, track_id in zip(faces, tracks.face_tracks, strict=True):
            report = reports.get(track_id)
            female = face.female_probability if face.female_probability is not None else None
            if face.repeats_track is not None and report is not None:
                age, female = (
                    report.age,
                    report.female_probability,
                )  # the track's, as nothing new was measured
            else:
                age = face.age
            labels.append(
                FaceLabel(
                    box=face.box,
                    name=names.get(track_id),
                    status=str(report.status) if report else "pending",
                    visitor_id=None if names.get(track_id) else visitors.get(track_id),
                    age=age,
                    gender=None if female is None else ("female" if female >= 0.5 else "male"),
                )
            )
        self.annotated.store(
            message.camera_id, draw_faces(image, labels), captured_at=message.captured_at.timestamp()
        )
        summary = {
            "camera_id": message.camera_id,
            "sequence": message.sequence,
            "captured_at": message.captured_at.isoformat(),
            "faces": [
                {
                    "box": label.box,
                    "name": label.name,
                    "status": label.status,
                    "age": label.age,
                    "gender": label.gender,
                }
                for label in labels
            ],
        }
        self.redis.set(LATEST_RESULT_KEY.format(camera_id=message.camera_id), json.dumps(summary), ex=3600)

    def _count(self, message: FrameMessage, faces: list[FaceInput], outcome: Outcome) -> None:
        if self.metrics is None:
            return
        camera = message.camera_id
        self.metrics.frames_processed.labels(camera, str(outcome)).inc()
        self.metrics.faces.labels(camera).inc(len(faces))
        self.metrics.repeated_faces.labels(camera).inc(sum(1 for face in faces if face.repeats_track))
        named = sum(1 for face in faces if face.candidate.person_id is not None)
        self.metrics.matches.labels(camera).inc(named)
        self.metrics.unknowns.labels(camera).inc(len(faces) - named)
        latency = (datetime.now(UTC) - message.captured_at).total_seconds()
        self.metrics.capture_to_result_seconds.labels(camera).observe(max(latency, 0.0))
