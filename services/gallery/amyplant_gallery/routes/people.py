"""People and their samples: CRUD, merge, delete (with erase), bulk enrollment, sample crops."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from amyplant_gallery.dependencies import AdminKey, Context, DbSession, EnrollKey, ReadKey
from amyplant_gallery.enrollment import FaceChoice, enroll_files
from amyplant_gallery.erase import delete_or_erase_person
from amyplant_gallery.errors import error_responses
from amyplant_gallery.routes.uploads import parse_box, parse_choices, uploaded_files
from amyplant_gallery.schemas.common import Offset, RowId, SingleLine, multipart_optional
from amyplant_gallery.schemas.people import (
    DeletionOut,
    EnrollFileResult,
    EnrollResponse,
    MergeRequest,
    PeoplePage,
    PersonCreate,
    PersonOut,
    PersonUpdate,
    SampleOut,
)
from amyplant_store import face_samples as face_store
from amyplant_store import people as people_store
from amyplant_store.audit import record_audit
from amyplant_store.errors import not_found

router = APIRouter(prefix="/api/v1/people", tags=["people"])
IMAGE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def _out(session: DbSession, person_id: int) -> PersonOut:
    person = people_store.get_person(session, person_id=person_id)
    return PersonOut.of(people_store.summarise(session, people=[person])[0])


@router.post("", status_code=201, summary="Create a person", responses=error_responses(401, 403, 409, 422))
def create_person(body: PersonCreate, session: DbSession, key: EnrollKey) -> PersonOut:
    person = people_store.create_person(session, name=body.name, notes=body.notes, alert=body.alert)
    return _out(session, person.id)


@router.get("", summary="List people (paginated, search by name)", responses=error_responses(401, 403))
def list_people(
    session: DbSession,
    key: ReadKey,
    query: Annotated[
        SingleLine | None, Query(max_length=200, description="Part of the name, any case.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> PeoplePage:
    people, total = people_store.list_people(session, query=query, limit=limit, offset=offset)
    items = [PersonOut.of(s) for s in people_store.summarise(session, people=people)]
    return PeoplePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{person_id}", summary="One person", responses=error_responses(401, 403, 404))
def get_person(person_id: RowId, session: DbSession, key: ReadKey) -> PersonOut:
    return _out(session, person_id)


@router.patch(
    "/{person_id}",
    summary="Rename a person, or change notes or alert",
    responses=error_responses(401, 403, 404, 409, 422),
)
def update_person(person_id: RowId, body: PersonUpdate, session: DbSession, key: EnrollKey) -> PersonOut:
    people_store.update_person(
        session, person_id=person_id, name=body.name, notes=body.notes, alert=body.alert
    )
    return _out(session, person_id)


@router.post(
    "/{person_id}/merge",
    summary="Merge another person into this one (deletes the other; admin, audited)",
    responses=error_responses(401, 403, 404, 422),
)
def merge_people(person_id: RowId, body: MergeRequest, session: DbSession, key: AdminKey) -> PersonOut:
    # Admin like DELETE: the merged person disappears.
    people_store.merge_people(session, into_id=person_id, from_id=body.from_person_id)
    record_audit(
        session,
        actor_key_id=key.id,
        actor_name=key.name,
        action="person.merge",
        target=f"person:{person_id}",
        details={"from_person_id": body.from_person_id},
    )
    return _out(session, person_id)


@router.delete(
    "/{person_id}",
    summary="Delete a person; erase=true also erases their events' snapshots and crops",
    responses=error_responses(401, 403, 404),
)
def delete_person(
    person_id: RowId,
    session: DbSession,
    key: AdminKey,
    erase: Annotated[
        bool,
        Query(
            description="Also erase the snapshots, crops and descriptors of every "
            "event naming them (biometric data)."
        ),
    ] = False,
) -> DeletionOut:
    deletion = delete_or_erase_person(session, person_id=person_id, erase=erase)
    # Ids and counts only: an erased person's name must not survive in the audit log.
    record_audit(
        session,
        actor_key_id=key.id,
        actor_name=key.name,
        action="person.erase" if erase else "person.delete",
        target=f"person:{person_id}",
        details={"events_erased": deletion.events_erased, "visitors_deleted": deletion.visitors_deleted},
    )
    return DeletionOut(
        person_id=deletion.person_id,
        erased=deletion.erased,
        events_erased=deletion.events_erased,
        visitors_deleted=deletion.visitors_deleted,
    )


@router.post(
    "/{person_id}/faces",
    summary="Enroll photos of a person (bulk: one result per file)",
    description=(
        "Send any number of image files (up to 50) in `files`. Each file gets its own result: `enrolled`, or "
        "`rejected` with a stable code (no_face, several_faces, face_too_small, face_too_blurred, "
        "duplicate_image, duplicate_face, enrolled_as_someone_else, not_an_image, image_corrupt, empty_file, "
        "upload_too_large, image_too_large). A photo with several faces is enrolled by choosing one: "
        "`face_index` (0 = the largest face) or `face_box` ('x1,y1,x2,y2') for every file, or `choices`, a "
        "JSON object keyed by file name. Status: 201 when every file was enrolled, 207 when some were, "
        "422 (code `nothing_enrolled`) when none was."
    ),
    status_code=201,
    response_model=EnrollResponse,
    responses={
        207: {"model": EnrollResponse, "description": "Some files enrolled, some rejected."},
        **error_responses(400, 401, 403, 404, 413, 422, 503),
    },
)
def enroll(
    person_id: RowId,
    context: Context,
    session: DbSession,
    key: EnrollKey,
    files: Annotated[list[UploadFile], File(description="Photos of the person (JPEG, PNG, WebP, ...).")],
    face_index: Annotated[
        int | None,
        Form(
            ge=0,
            description="Which face, largest first, in every file.",
            json_schema_extra=multipart_optional,
        ),
    ] = None,
    face_box: Annotated[
        str | None,
        Form(
            description="'x1,y1,x2,y2': the face overlapping it most.", json_schema_extra=multipart_optional
        ),
    ] = None,
    choices: Annotated[
        str | None,
        Form(description='{"group.jpg": {"face_index": 1}} per file.', json_schema_extra=multipart_optional),
    ] = None,
) -> JSONResponse:
    outcomes = enroll_files(
        session,
        pipeline=context.pipeline,
        person_id=person_id,
        files=uploaded_files(files),
        choices=parse_choices(choices),
        default_choice=FaceChoice(index=face_index, box=parse_box(face_box)),
        policy=context.policy,
        limits=context.limits,
    )
    enrolled = sum(1 for o in outcomes if o.enrolled)
    body = EnrollResponse(
        person_id=person_id,
        enrolled=enrolled,
        rejected=len(outcomes) - enrolled,
        results=[EnrollFileResult.of(o) for o in outcomes],
    )
    if enrolled == 0:
        content = {
            "code": "nothing_enrolled",
            "message": "no file was enrolled; see each file's reason",
            "details": body.model_dump(mode="json"),
        }
        return JSONResponse(content, status_code=422)
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if enrolled == len(outcomes) else 207)


@router.get(
    "/{person_id}/faces",
    summary="A person's enrollment samples (enroll scope: biometric data)",
    responses=error_responses(401, 403, 404),
)
def list_faces(person_id: RowId, session: DbSession, key: EnrollKey) -> list[SampleOut]:
    people_store.get_person(session, person_id=person_id)
    return [SampleOut.of(face) for face in face_store.list_faces(session, person_id=person_id)]


@router.get(
    "/{person_id}/faces/{face_id}/crop",
    summary="A sample's aligned face crop (JPEG; enroll scope: biometric data)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 403, 404)},
)
def face_crop(person_id: RowId, face_id: RowId, session: DbSession, key: EnrollKey) -> Response:
    face = face_store.get_face(session, face_id=face_id, with_crop=True)
    if face.person_id != person_id:
        raise not_found("face", face_id)
    return Response(face.crop, media_type="image/jpeg", headers=IMAGE_HEADERS)


@router.delete(
    "/{person_id}/faces/{face_id}",
    status_code=204,
    summary="Delete one sample",
    responses=error_responses(401, 403, 404),
)
def delete_face(person_id: RowId, face_id: RowId, session: DbSession, key: EnrollKey) -> Response:
    face_store.delete_face(session, person_id=person_id, face_id=face_id)
    return Response(status_code=204)
