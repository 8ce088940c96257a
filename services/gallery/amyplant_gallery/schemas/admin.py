"""Bodies of API-key administration, the audit log and gallery import."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from amyplant_gallery.api_keys import Scope
from amyplant_gallery.schemas.common import PageInfo, SingleLine
from amyplant_store.tables import ApiKey, AuditEntry


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "home assistant", "scopes": ["read"]}]}
    )

    name: SingleLine = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(
        min_length=1, description="read < enroll < admin; each grants the ones before."
    )


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            scopes=list(key.scopes),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class NewKeyOut(KeyOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "name": "home assistant",
                    "prefix": "amyk_Xq3v9aB",
                    "scopes": ["read"],
                    "created_at": "2026-01-02T10:00:00Z",
                    "last_used_at": None,
                    "revoked_at": None,
                    "key": "amyk_Xq3v9aB...",
                }
            ]
        }
    )

    key: str = Field(description="The secret key, shown this once only.")


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_key_id: int | None = Field(description="The API key that acted; null for the gallery itself.")
    actor_name: str = Field(description="That key's name when it acted.")
    action: str = Field(examples=["person.merge"])
    target: str = Field(description="What it acted on, as 'kind:id'.", examples=["person:12"])
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            at=entry.at,
            actor_key_id=entry.actor_key_id,
            actor_name=entry.actor_name,
            action=entry.action,
            target=entry.target,
            details=dict(entry.details),
        )


class AuditPage(PageInfo):
    items: list[AuditEntryOut]


class ImportOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "people_created": 4,
                    "people_matched": 1,
                    "faces_added": 9,
                    "faces_skipped": 0,
                    "negatives_added": 1,
                    "visitors_created": 3,
                    "visitors_matched": 0,
                    "events_added": 120,
                    "events_skipped": 0,
                }
            ]
        }
    )

    people_created: int
    people_matched: int
    faces_added: int
    faces_skipped: int
    negatives_added: int
    visitors_created: int
    visitors_matched: int
    events_added: int = Field(description="Events imported with their snapshots.")
    events_skipped: int = Field(description="Events already here (same camera and track).")
