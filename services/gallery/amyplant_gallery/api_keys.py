"""API keys: made once and shown once, stored as HMAC-SHA256 under the pepper, with scopes.

Scopes nest: `admin` grants `enroll`, which grants `read`. The first admin key is created at first start:
the configured AMYPLANT_GALLERY_BOOTSTRAP_ADMIN_KEY, or a generated key written to <state_dir>/admin-key.txt
(mode 0600). No key, nor any part of one, is ever logged: logs are kept longer and read by more people.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from amyplant_store.audit import SYSTEM_ACTOR, record_audit
from amyplant_store.errors import GalleryError, not_found
from amyplant_store.tables import ApiKey

log = logging.getLogger(__name__)

KEY_PREFIX = "amyk_"
SHOWN_PREFIX_LENGTH = 12
BOOTSTRAP_LOCK_KEY = 7_301_926
ADMIN_KEY_FILE = "admin-key.txt"


class Scope(StrEnum):
    READ = "read"
    ENROLL = "enroll"
    ADMIN = "admin"


SCOPE_RANK = {Scope.READ: 0, Scope.ENROLL: 1, Scope.ADMIN: 2}


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only time its secret is known."""

    record: ApiKey
    secret: str


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str, *, pepper: str) -> str:
    return hmac.new(pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def grants(scopes: list[str], required: Scope) -> bool:
    """Whether keys with these scopes may use a route that needs `required`."""
    ranks = [SCOPE_RANK[Scope(s)] for s in scopes if s in Scope.__members__.values()]
    return bool(ranks) and max(ranks) >= SCOPE_RANK[required]


def create_key(
    session: Session, *, name: str, scopes: list[Scope], pepper: str, secret: str | None = None
) -> NewKey:
    if not scopes:
        raise GalleryError(
            "invalid_scopes", "a key needs at least one scope (read, enroll, admin)", status=422
        )
    key = secret or generate_key()
    record = ApiKey(
        name=name.strip() or "unnamed",
        prefix=key[:SHOWN_PREFIX_LENGTH],
        key_hash=hash_key(key, pepper=pepper),
        scopes=sorted({s.value for s in scopes}),
    )
    session.add(record)
    session.flush()
    session.refresh(record)
    return NewKey(record=record, secret=key)


def authenticate(session: Session, *, key: str, pepper: str) -> ApiKey | None:
    """The active key with this secret, or None; its last use is recorded at most once a minute."""
    record = session.scalars(
        sa.select(ApiKey).where(ApiKey.key_hash == hash_key(key, pepper=pepper), ApiKey.revoked_at.is_(None))
    ).first()
    if record is not None:
        session.execute(
            sa.update(ApiKey)
            .where(
                ApiKey.id == record.id,
                sa.or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < sa.func.now() - sa.text("interval '1 minute'"),
                ),
            )
            .values(last_used_at=sa.func.now())
        )
    return record


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(sa.select(ApiKey).order_by(ApiKey.id)).all())


def revoke_key(session: Session, *, key_id: int) -> ApiKey:
    record = session.get(ApiKey, key_id, with_for_update=True)
    if record is None:
        raise not_found("api_key", key_id)
    if record.revoked_at is None:
        record.revoked_at = sa.func.now()  # type: ignore[assignment]
        session.flush()
        session.refresh(record)
    return record


def has_active_admin(session: Session) -> bool:
    first = session.scalar(
        sa.select(ApiKey.id)
        .where(ApiKey.revoked_at.is_(None), ApiKey.scopes.contains([Scope.ADMIN.value]))
        .limit(1)
    )
    return first is not None


def ensure_admin_key(
    session: Session, *, pepper: str, configured_key: str | None, state_dir: Path
) -> NewKey | None:
    """Create the first admin key when no active one exists; concurrent starts create only one."""
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(BOOTSTRAP_LOCK_KEY)))
    if has_active_admin(session):
        return None
    new = create_key(
        session, name="bootstrap admin", scopes=[Scope.ADMIN], pepper=pepper, secret=configured_key
    )
    record_audit(
        session,
        actor_key_id=None,
        actor_name=SYSTEM_ACTOR,
        action="api_key.create",
        target=f"api_key:{new.record.id}",
        details={"name": new.record.name, "scopes": new.record.scopes, "bootstrap": True},
    )
    if configured_key is None:
        path = write_admin_key_file(state_dir, new.secret)
        log.warning(
            "created the first admin API key (id %d) and wrote it to %s (mode 0600); it is not shown again",
            new.record.id,
            path,
        )
    else:
        log.info(
            "created the first admin API key (id %d) from AMYPLANT_GALLERY_BOOTSTRAP_ADMIN_KEY",
            new.record.id,
        )
    return new


def write_admin_key_file(state_dir: Path, secret: str) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / ADMIN_KEY_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
    path.chmod(0o600)  # an older file may have had wider permissions
    return path
