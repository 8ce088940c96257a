"""Administration: API keys (create, list, revoke), the audit log, and export/import of the gallery."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import IO, Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from amyplant_gallery import api_keys
from amyplant_gallery.dependencies import AdminKey, Context, DbSession
from amyplant_gallery.errors import error_responses
from amyplant_gallery.schemas.admin import AuditEntryOut, AuditPage, ImportOut, KeyCreate, KeyOut, NewKeyOut
from amyplant_gallery.schemas.common import Offset, RowId
from amyplant_gallery.transfer import export_gallery, import_gallery, read_archive
from amyplant_store.audit import list_audit, record_audit
from amyplant_store.errors import GalleryError
from amyplant_store.tables import ApiKey

router = APIRouter(prefix="/api/v1", tags=["admin"])
CHUNK = 1 << 20


def audit(session: Session, key: ApiKey, action: str, target: str, **details: object) -> None:
    record_audit(
        session, actor_key_id=key.id, actor_name=key.name, action=action, target=target, details=details
    )


@router.post(
    "/api-keys",
    status_code=201,
    summary="Create an API key (its secret is shown once)",
    responses=error_responses(401, 403, 422),
)
def create_key(body: KeyCreate, context: Context, session: DbSession, key: AdminKey) -> NewKeyOut:
    new = api_keys.create_key(
        session, name=body.name, scopes=body.scopes, pepper=context.settings.api_key_pepper
    )
    audit(
        session,
        key,
        "api_key.create",
        f"api_key:{new.record.id}",
        name=new.record.name,
        scopes=new.record.scopes,
    )
    return NewKeyOut(**KeyOut.of(new.record).model_dump(), key=new.secret)


@router.get("/api-keys", summary="List API keys (never their secrets)", responses=error_responses(401, 403))
def list_keys(session: DbSession, key: AdminKey) -> list[KeyOut]:
    return [KeyOut.of(record) for record in api_keys.list_keys(session)]


@router.delete(
    "/api-keys/{key_id}", summary="Revoke an API key", responses=error_responses(401, 403, 404, 409)
)
def revoke_key(key_id: RowId, session: DbSession, key: AdminKey) -> KeyOut:
    if key_id == key.id:
        raise GalleryError(
            "cannot_revoke_own_key", "a key cannot revoke itself; use another admin key", status=409
        )
    revoked = api_keys.revoke_key(session, key_id=key_id)
    audit(session, key, "api_key.revoke", f"api_key:{key_id}", name=revoked.name)
    return KeyOut.of(revoked)


@router.get(
    "/audit",
    summary="The audit log, newest first (merges, deletions, API keys, exports, imports, training)",
    responses=error_responses(401, 403, 422),
)
def list_audit_log(
    session: DbSession,
    key: AdminKey,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> AuditPage:
    entries, total = list_audit(session, limit=limit, offset=offset)
    return AuditPage(items=[AuditEntryOut.of(e) for e in entries], total=total, limit=limit, offset=offset)


def _chunks(archive: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := archive.read(CHUNK):
            yield chunk
    finally:
        archive.close()


@router.get(
    "/export",
    summary="Export people, samples (with crops), negatives, visitors and events (with snapshots) as a zip",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}, **error_responses(401, 403)},
)
def export(session: DbSession, key: AdminKey) -> StreamingResponse:
    audit(session, key, "gallery.export", "gallery")
    archive = export_gallery(session)
    name = f"amyplant-gallery-{datetime.now(UTC):%Y%m%d-%H%M%S}.zip"
    return StreamingResponse(
        _chunks(archive),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/import",
    summary="Import a zip made by /export (merged: people by name, samples by source hash, events by "
    "camera and track)",
    responses=error_responses(400, 401, 403, 413, 422),
)
def import_archive(
    context: Context,
    session: DbSession,
    key: AdminKey,
    archive: Annotated[UploadFile, File(description="A zip made by GET /api/v1/export.")],
) -> ImportOut:
    # The upload is already spooled to disk by the server; the zip is read from there, never whole.
    size = archive.file.seek(0, 2)
    archive.file.seek(0)
    limit = context.settings.max_import_bytes
    if size > limit:
        raise GalleryError(
            "upload_too_large",
            f"the archive is larger than the {limit} bytes allowed (AMYPLANT_GALLERY_MAX_IMPORT_BYTES)",
            status=413,
            limit_bytes=limit,
        )
    zipped, people = read_archive(archive.file, archive_bytes=size)
    with zipped:
        summary = import_gallery(session, archive=zipped, people=people)
    audit(session, key, "gallery.import", "gallery", **asdict(summary))
    return ImportOut(**asdict(summary))
