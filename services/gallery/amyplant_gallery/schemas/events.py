"""Bodies of the events, feedback and visitor routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from amyplant_gallery.schemas.common import PageInfo, PersonName, RowId, SingleLine
from amyplant_store.tables import Event, Visitor

EVENT_EXAMPLE: dict[str, Any] = {
    "id": 120,
    "camera_id": "front-door",
    "track_id": "3f2a/0",
    "started_at": "2026-01-02T10:00:00Z",
    "ended_at": "2026-01-02T10:00:04Z",
    "person_id": 3,
    "person_name": "obama",
    "visitor_id": None,
    "distance": 0.35,
    "similarity": 0.97,
    "age": 49.0,
    "gender": "male",
    "box": [533.0, 190.0, 962.0, 618.0],
    "detector_score": 0.89,
    "size_px": 428.0,
    "sharpness": 286.6,
    "model_version": 1,
    "labelled": False,
    "erased": False,
    "snapshot_url": "/api/v1/events/120/snapshot",
    "crop_url": "/api/v1/events/120/crop",
}


class EventOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EVENT_EXAMPLE]})

    id: int
    camera_id: str
    track_id: str
    started_at: datetime
    ended_at: datetime
    person_id: int | None
    person_name: str | None
    visitor_id: int | None
    distance: float | None
    similarity: float | None
    age: float | None
    gender: str | None
    box: list[float]
    detector_score: float
    size_px: float
    sharpness: float
    model_version: int | None
    labelled: bool = Field(description="A person confirmed or corrected who this is.")
    erased: bool = Field(description="Its biometric data (snapshot, crop, descriptor) was erased.")
    snapshot_url: str | None
    crop_url: str | None

    @classmethod
    def of(cls, event: Event, names: dict[int, str]) -> EventOut:
        images = not event.erased
        return cls(
            id=event.id,
            camera_id=event.camera_id,
            track_id=event.track_id,
            started_at=event.started_at,
            ended_at=event.ended_at,
            person_id=event.person_id,
            person_name=names.get(event.person_id) if event.person_id is not None else None,
            visitor_id=event.visitor_id,
            distance=event.distance,
            similarity=event.similarity,
            age=event.age,
            gender=event.gender,
            box=list(event.box),
            detector_score=event.detector_score,
            size_px=event.size_px,
            sharpness=event.sharpness,
            model_version=event.model_version,
            labelled=event.labelled,
            erased=event.erased,
            snapshot_url=f"/api/v1/events/{event.id}/snapshot" if images else None,
            crop_url=f"/api/v1/events/{event.id}/crop" if images else None,
        )


class EventsPage(PageInfo):
    items: list[EventOut]


class RecordedEventsOut(BaseModel):
    """The events written for one image (one per face)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"events": [EVENT_EXAMPLE]}]})

    events: list[EventOut]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"person_id": 3, "is_person": False},
                {"person_id": 3, "is_person": True, "add_sample": True},
            ]
        }
    )

    person_id: RowId
    is_person: bool = Field(description="True: 'this is X'. False: 'this is not X' (recorded as a negative).")
    add_sample: bool = Field(False, description="With is_person: also enroll this face as a sample of X.")


class FeedbackOut(BaseModel):
    event: EventOut
    face_id: int | None = Field(None, description="The sample added ('this is X' with add_sample).")
    negative_id: int | None = Field(None, description="The negative sample recorded ('this is not X').")
    note: str = ""


class VisitorOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 8,
                    "label": "",
                    "person_id": None,
                    "model_version": 1,
                    "face_count": 14,
                    "event_count": 3,
                    "first_seen": "2026-01-02T10:00:00Z",
                    "last_seen": "2026-01-05T18:30:00Z",
                    "crop_url": "/api/v1/visitors/8/crop",
                }
            ]
        }
    )

    id: int
    label: str
    person_id: int | None = Field(description="Set once the visitor was named.")
    model_version: int
    face_count: int = Field(description="Faces clustered into this visitor.")
    event_count: int
    first_seen: datetime
    last_seen: datetime
    crop_url: str

    @classmethod
    def of(cls, visitor: Visitor, event_count: int) -> VisitorOut:
        return cls(
            id=visitor.id,
            label=visitor.label,
            person_id=visitor.person_id,
            model_version=visitor.model_version,
            face_count=visitor.face_count,
            event_count=event_count,
            first_seen=visitor.first_seen,
            last_seen=visitor.last_seen,
            crop_url=f"/api/v1/visitors/{visitor.id}/crop",
        )


class VisitorsPage(PageInfo):
    items: list[VisitorOut]


class VisitorLabel(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"label": "delivery driver, blue cap"}]})

    label: SingleLine = Field(max_length=200)


class NameVisitorRequest(BaseModel):
    """Exactly one of `person_id` and `name` (the schema's oneOf says so too)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Grace Hopper"}, {"person_id": 7}],
            "oneOf": [
                {"required": ["person_id"], "properties": {"person_id": {"type": "integer"}}},
                {"required": ["name"], "properties": {"name": {"type": "string"}}},
            ],
        }
    )

    person_id: RowId | None = Field(None, description="An existing person.")
    name: PersonName | None = Field(
        None, min_length=1, max_length=200, description="A person, created if new (normalised as on create)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> NameVisitorRequest:
        if (self.person_id is None) == (self.name is None):
            raise ValueError("give exactly one of person_id and name")
        return self


class NamingOut(BaseModel):
    person_id: int
    person_name: str
    samples_added: int
    events_named: int
