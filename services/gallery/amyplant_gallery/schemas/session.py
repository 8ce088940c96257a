"""What a signed-in client (the web site) learns about its key and the settings in force."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SessionOut(BaseModel):
    key_id: int
    key_name: str
    scopes: list[str] = Field(description="The key's own scopes; admin grants enroll, which grants read.")
    can_enroll: bool = Field(description="Whether this key may change people, samples and feedback.")
    is_admin: bool = Field(description="Whether this key may manage keys, export and training.")
    match_threshold: float = Field(description="Largest descriptor distance named as a person.")
    visitor_threshold: float = Field(description="Largest distance at which unknown faces join a visitor.")
    max_files_per_request: int = Field(description="Most photos one enrollment request may carry.")
    max_upload_bytes: int = Field(description="Largest single uploaded file.")
