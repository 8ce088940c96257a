"""Who the caller is and the settings in force: what the web site shows and hides for a key."""

from __future__ import annotations

from fastapi import APIRouter

from amyplant_gallery.api_keys import Scope, grants
from amyplant_gallery.dependencies import Context, ReadKey
from amyplant_gallery.errors import error_responses
from amyplant_gallery.routes.uploads import MAX_FILES_PER_REQUEST
from amyplant_gallery.schemas.session import SessionOut

router = APIRouter(prefix="/api/v1", tags=["session"])


@router.get(
    "/me",
    summary="The calling key's name and scopes, and the thresholds and upload limits in force",
    responses=error_responses(401, 403),
)
def who_am_i(context: Context, key: ReadKey) -> SessionOut:
    return SessionOut(
        key_id=key.id,
        key_name=key.name,
        scopes=list(key.scopes),
        can_enroll=grants(key.scopes, Scope.ENROLL),
        is_admin=grants(key.scopes, Scope.ADMIN),
        match_threshold=context.policy.match_threshold,
        visitor_threshold=context.policy.visitor_threshold,
        max_files_per_request=MAX_FILES_PER_REQUEST,
        max_upload_bytes=context.settings.max_upload_bytes,
    )
