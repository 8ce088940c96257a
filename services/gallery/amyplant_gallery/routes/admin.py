"""Administration: API keys (create, list, revoke) and export/import of the whole gallery."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import IO, Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import StreamingResponse

from amyplant_gallery import api_keys
from amyplant_gallery.dependencies import AdminKey, Context, DbSession
from amyplant_gallery.errors import error_responses
from amyplant_gallery.schemas.admin import ImportOut, KeyCreate, KeyOut, NewKeyOut
from amyplant_gallery.transfer import export_gallery, import_gallery, read_archive
from amyplant_store.errors import GalleryError

router = APIRouter(prefix="/api/v1", tags=["admin"])
CHUNK = 1 << 20


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
    return NewKeyOut(**KeyOut.of(new.record).model_dump(), key=new.secret)


@router.get("/api-keys", summary="List API keys (never their secrets)", responses=error_responses(401, 403))
def list_keys(session: DbSession, key: AdminKey) -> list[KeyOut]:
    return [KeyOut.of(record) for record in api_keys.list_keys(session)]


@router.delete(
    "/api-keys/{key_id}", summary="Revoke an API key", responses=error_responses(401, 403, 404, 409)
)
def revoke_key(key_id: int, session: DbSession, key: AdminKey) -> KeyOut:
    if key_id == key.id:
        raise GalleryError(
            "cannot_revoke_own_key", "a key cannot revoke itself; use another admin key", status=409
        )
    return KeyOut.of(api_keys.revoke_key(session, key_id=key_id))


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
    responses=error_responses(401, 403, 413, 422),
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
    return ImportOut(**asdict(summary))
