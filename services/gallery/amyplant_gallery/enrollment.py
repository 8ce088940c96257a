"""Bulk enrollment: every uploaded file becomes a sample of the person, or gets its own clear reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from amyplant_faces.pipeline.faces import FaceObservation, FacePipeline
from amyplant_gallery.analysis import analyse, choose_face, embedder_version
from amyplant_gallery.uploads import DecodedImage, UploadLimits, read_image
from amyplant_store import face_samples as face_store
from amyplant_store.errors import GalleryError
from amyplant_store.people import get_person
from amyplant_store.policy import GalleryPolicy
from amyplant_store.stored_images import encode_crop
from amyplant_store.tables import Person
from amyplant_store.vectors import nearest_faces

# Failures that concern the whole request, not one file: they abort the call.
REQUEST_FAILURES = frozenset({"models_unavailable", "models_changing"})


@dataclass(frozen=True)
class FaceChoice:
    """Which face of a photo with several to enroll: by index (largest first) or by box."""

    index: int | None = None
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    stream: BinaryIO


@dataclass(frozen=True)
class FileOutcome:
    """One file's result: enrolled (with its sample) or rejected with a stable code and a reason."""

    filename: str
    enrolled: bool
    code: str
    message: str
    http_status: int
    face_id: int | None = None
    face: FaceObservation | None = None
    details: dict[str, Any] = field(default_factory=dict)


def enroll_files(
    session: Session,
    *,
    pipeline: FacePipeline,
    person_id: int,
    files: Sequence[UploadedFile],
    choices: dict[str, FaceChoice],
    default_choice: FaceChoice,
    policy: GalleryPolicy,
    limits: UploadLimits,
) -> list[FileOutcome]:
    """Enroll each file in turn; a later file is checked against the samples the earlier ones added."""
    person = get_person(session, person_id=person_id, lock=True)
    outcomes = []
    for upload in files:
        choice = choices.get(upload.filename, default_choice)
        try:
            image = read_image(upload.stream, filename=upload.filename, limits=limits)
            outcomes.append(
                enroll_image(
                    session, pipeline=pipeline, person=person, image=image, choice=choice, policy=policy
                )
            )
        except GalleryError as error:
            if error.code in REQUEST_FAILURES:
                raise
            outcomes.append(
                FileOutcome(
                    filename=upload.filename,
                    enrolled=False,
                    code=error.code,
                    message=error.message,
                    http_status=error.status,
                    details=error.details,
                )
            )
    return outcomes


def enroll_image(
    session: Session,
    *,
    pipeline: FacePipeline,
    person: Person,
    image: DecodedImage,
    choice: FaceChoice,
    policy: GalleryPolicy,
) -> FileOutcome:
    """Add one decoded image's chosen face as a sample of the person, or raise why not."""
    # Checked before the models run: re-sending a folder costs nothing for the files already enrolled.
    if face_store.has_source(
        session,
        person_id=person.id,
        source_sha256=image.sha256,
        model_version=embedder_version(pipeline.models),
    ):
        raise GalleryError(
            "duplicate_image", f"{image.filename} was already enrolled for {person.name}", status=409
        )
    analysis = analyse(pipeline, image.rgb)
    face = choose_face(analysis.faces, index=choice.index, box=choice.box, filename=image.filename)
    check_quality(face, filename=image.filename, policy=policy)
    refuse_duplicate(
        session,
        face=face,
        person=person,
        model_version=analysis.model_version,
        filename=image.filename,
        policy=policy,
    )
    sample = face_store.add_face(
        session,
        person_id=person.id,
        sample=face_store.SampleData(
            embedding=face.embedding,
            model_version=analysis.model_version,
            crop_jpeg=encode_crop(face.chip),
            source_sha256=image.sha256,
            box=face.box,
            detector_score=face.score,
            size_px=face.quality.size_px,
            sharpness=face.quality.sharpness,
        ),
    )
    return FileOutcome(
        filename=image.filename,
        enrolled=True,
        code="enrolled",
        message=f"enrolled as a sample of {person.name}",
        http_status=201,
        face_id=sample.id,
        face=face,
        details={"faces_in_image": len(analysis.faces), "model_version": analysis.model_version},
    )


def check_quality(face: FaceObservation, *, filename: str, policy: GalleryPolicy) -> None:
    """Refuse faces too small or too blurred to describe someone well (thresholds: see policy.py)."""
    if face.quality.size_px < policy.min_face_px:
        raise GalleryError(
            "face_too_small",
            f"the face in {filename} is {face.quality.size_px:.0f} px; "
            f"enrollment needs {policy.min_face_px:.0f}",
            status=422,
            size_px=round(face.quality.size_px, 1),
            min_size_px=policy.min_face_px,
        )
    if face.quality.sharpness < policy.min_sharpness:
        raise GalleryError(
            "face_too_blurred",
            f"the face in {filename} is too blurred (sharpness {face.quality.sharpness:.1f}, "
            f"enrollment needs {policy.min_sharpness:.0f})",
            status=422,
            sharpness=round(face.quality.sharpness, 1),
            min_sharpness=policy.min_sharpness,
        )


def refuse_duplicate(
    session: Session,
    *,
    face: FaceObservation,
    person: Person,
    model_version: int,
    filename: str,
    policy: GalleryPolicy,
) -> None:
    """A face (nearly) identical to an existing sample is refused: the person's own, or someone else's."""
    nearest = nearest_faces(session, embedding=face.embedding, model_version=model_version, candidates=1)
    if not nearest or nearest[0].distance > policy.duplicate_distance:
        return
    if nearest[0].owner_id == person.id:
        raise GalleryError(
            "duplicate_face",
            f"the face in {filename} duplicates sample {nearest[0].row_id} of {person.name}",
            status=409,
            face_id=nearest[0].row_id,
            distance=round(nearest[0].distance, 4),
        )
    other = get_person(session, person_id=nearest[0].owner_id)
    raise GalleryError(
        "enrolled_as_someone_else",
        f"the face in {filename} is already a sample of {other.name} (id {other.id})",
        status=409,
        person_id=other.id,
        face_id=nearest[0].row_id,
        distance=round(nearest[0].distance, 4),
    )
