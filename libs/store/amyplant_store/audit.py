"""The audit log: record an action in the caller's transaction, and list entries newest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from amyplant_store.tables import AuditEntry

SYSTEM_ACTOR = "system"


def record_audit(
    session: Session,
    *,
    actor_key_id: int | None,
    actor_name: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry; it is written, or rolled back, with the action it records (the same transaction)."""
    entry = AuditEntry(
        actor_key_id=actor_key_id, actor_name=actor_name, action=action, target=target, details=details or {}
    )
    session.add(entry)
    session.flush()
    return entry


def list_audit(session: Session, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    """A page of entries, newest first, and the total."""
    total = session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0
    page = session.scalars(
        sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(page), int(total)
