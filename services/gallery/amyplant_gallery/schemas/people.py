"""Bodies of the people and enrollment routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from amyplant_gallery.enrollment import FileOutcome
from amyplant_gallery.schemas.common import FACE_EXAMPLE, FaceOut, MultiLine, PageInfo, PersonName, RowId
from amyplant_store.people import PersonSummary
from amyplant_store.tables import Face


class PersonCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Ada Lovelace", "alert": False}]})

    name: PersonName = Field(
        min_length=1,
        max_length=200,
        description="Unique, compared without case after normalising (Unicode NFC, look-alike spaces and "
        "hyphens made plain, runs of blanks collapsed, ends trimmed); no control characters.",
    )
    notes: MultiLine = Field("", max_length=2000, description="Tabs and line breaks allowed.")
    alert: bool = Field(False, description="Send an alert whenever this person is seen.")


class PersonUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Ada King"}, {"alert": True}]})

    name: PersonName | None = Field(
        None, min_length=1, max_length=200, description="Normalised as on create."
    )
    notes: MultiLine | None = Field(None, max_length=2000)
    alert: bool | None = None


class PersonOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "name": "Ada Lovelace",
                    "notes": "",
                    "alert": False,
                    "face_count": 3,
                    "event_count": 12,
                    "created_at": "2026-01-02T10:00:00Z",
                    "updated_at": "2026-01-02T10:00:00Z",
                }
            ]
        }
    )

    id: int
    name: str
    notes: str
    alert: bool
    face_count: int = Field(description="Enrollment samples.")
    event_count: int = Field(description="Events that name this person.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, summary: PersonSummary) -> PersonOut:
        p = summary.person
        return cls(
            id=p.id,
            name=p.name,
            notes=p.notes,
            alert=p.alert,
            face_count=summary.face_count,
            event_count=summary.event_count,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class PeoplePage(PageInfo):
    items: list[PersonOut]


class MergeRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"from_person_id": 9}]})

    from_person_id: RowId = Field(
        description="This person's samples, events and visitors move; they are deleted."
    )


class SampleOut(BaseModel):
    """An enrollment sample."""

    id: int
    person_id: int
    model_version: int = Field(description="Embedder version of the descriptor; only compared within it.")
    box: list[float]
    detector_score: float
    size_px: float
    sharpness: float
    source_sha256: str
    origin: str = Field(description="'upload', 'event:<id>' (feedback or a named visitor) ...")
    created_at: datetime
    crop_url: str

    @classmethod
    def of(cls, face: Face) -> SampleOut:
        return cls(
            id=face.id,
            person_id=face.person_id,
            model_version=face.model_version,
            box=list(face.box),
            detector_score=face.detector_score,
            size_px=face.size_px,
            sharpness=face.sharpness,
            source_sha256=face.source_sha256,
            origin=face.origin,
            created_at=face.created_at,
            crop_url=f"/api/v1/people/{face.person_id}/faces/{face.id}/crop",
        )


class EnrollFileResult(BaseModel):
    """One uploaded file's result."""

    filename: str
    status: str = Field(description="'enrolled' or 'rejected'.")
    code: str = Field(
        description="'enrolled', or why not: no_face, several_faces, face_too_small, "
        "face_too_blurred, duplicate_image, duplicate_face, enrolled_as_someone_else, "
        "not_an_image, image_corrupt, empty_file, upload_too_large, image_too_large, ..."
    )
    message: str
    http_status: int = Field(description="The status this file alone would have had.")
    face_id: int | None = None
    face: FaceOut | None = None
    details: dict[str, object] = Field(default_factory=dict)

    @classmethod
    def of(cls, outcome: FileOutcome) -> EnrollFileResult:
        return cls(
            filename=outcome.filename,
            status="enrolled" if outcome.enrolled else "rejected",
            code=outcome.code,
            message=outcome.message,
            http_status=outcome.http_status,
            face_id=outcome.face_id,
            face=FaceOut.of(outcome.face) if outcome.face is not None else None,
            details=outcome.details,
        )


class EnrollResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "person_id": 7,
                    "enrolled": 1,
                    "rejected": 1,
                    "results": [
                        {
                            "filename": "ada1.jpg",
                            "status": "enrolled",
                            "code": "enrolled",
                            "message": "enrolled as a sample of Ada Lovelace",
                            "http_status": 201,
                            "face_id": 31,
                            "face": FACE_EXAMPLE,
                            "details": {},
                        },
                        {
                            "filename": "party.jpg",
                            "status": "rejected",
                            "code": "several_faces",
                            "message": "party.jpg shows "
                            "3 faces; choose one with face_index (largest first) or face_box",
                            "http_status": 422,
                            "face_id": None,
                            "face": None,
                            "details": {"faces": [[10, 20, 90, 100]]},
                        },
                    ],
                }
            ]
        }
    )

    person_id: int
    enrolled: int
    rejected: int
    results: list[EnrollFileResult]


class DeletionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"person_id": 7, "erased": True, "events_erased": 12, "visitors_deleted": 1}]
        }
    )

    person_id: int
    erased: bool = Field(description="Whether their events' snapshots, crops and descriptors were erased.")
    events_erased: int
    visitors_deleted: int
