"""Recognise the faces of an image, verify two faces or a face and a person, search past events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from amyplant_gallery.dependencies import Context, DbSession, EnrollKey, ReadKey
from amyplant_gallery.errors import error_responses
from amyplant_gallery.recognition import recognize, search_events, verify_images, verify_person
from amyplant_gallery.routes.uploads import decoded
from amyplant_gallery.schemas.common import FaceOut, RowId, multipart_optional
from amyplant_gallery.schemas.recognition import (
    RecognizeResponse,
    SearchHitOut,
    SearchResponse,
    VerifyResponse,
)
from amyplant_store.errors import GalleryError
from amyplant_store.policy import DEFAULT_TOP_K

router = APIRouter(prefix="/api/v1", tags=["recognition"])
IMAGE_ERRORS = error_responses(400, 401, 403, 413, 415, 422, 503)
Threshold = Annotated[
    float | None,
    Query(
        gt=0,
        le=4,
        description="Largest Euclidean distance that still "
        "names a person; default: the gallery's setting (0.6).",
    ),
]
FaceIndex = Annotated[
    int | None,
    Form(
        ge=0,
        description="Which face, largest first, when there are several.",
        json_schema_extra=multipart_optional,
    ),
]


@router.post(
    "/recognize",
    summary="Name every face of an image",
    description="Every face (largest first) with its box, detector score, age, gender, quality and the "
    "top-k nearest people; `unknown` when nobody is within the threshold (or the nearest were rejected by "
    "'not this person' feedback).",
    responses=IMAGE_ERRORS,
)
def recognize_image(
    context: Context,
    session: DbSession,
    key: ReadKey,
    image: Annotated[UploadFile, File(description="A photo (JPEG, PNG, WebP, ...).")],
    threshold: Threshold = None,
    top_k: Annotated[int, Query(ge=1, le=20, description="People listed per face.")] = DEFAULT_TOP_K,
) -> RecognizeResponse:
    limit = threshold if threshold is not None else context.policy.match_threshold
    result = recognize(
        session,
        pipeline=context.pipeline,
        image=decoded(image, limits=context.limits),
        threshold=limit,
        top_k=top_k,
        policy=context.policy,
    )
    return RecognizeResponse.of(result, limit)


@router.post(
    "/verify",
    summary="Are two faces the same person? Or is this face a given person?",
    description="Send `image` and either `other` (a second image) or `person_id`. With several faces in an "
    "image, choose one with `face_index` / `other_face_index` (0 = largest).",
    responses=error_responses(400, 401, 403, 404, 413, 415, 422, 503),
)
def verify(
    context: Context,
    session: DbSession,
    key: ReadKey,
    image: Annotated[UploadFile, File(description="The face to verify.")],
    other: Annotated[
        UploadFile | None,
        File(description="A second image to compare with.", json_schema_extra=multipart_optional),
    ] = None,
    person_id: Annotated[
        RowId | None, Form(description="Or: a person to compare with.", json_schema_extra=multipart_optional)
    ] = None,
    face_index: FaceIndex = None,
    other_face_index: FaceIndex = None,
    threshold: Threshold = None,
) -> VerifyResponse:
    if (other is None) == (person_id is None):
        raise GalleryError(
            "invalid_request", "send either a second image ('other') or a person_id", status=422
        )
    limit = threshold if threshold is not None else context.policy.match_threshold
    first = decoded(image, limits=context.limits)
    if other is not None:
        result = verify_images(
            pipeline=context.pipeline,
            first=first,
            second=decoded(other, limits=context.limits),
            first_index=face_index,
            second_index=other_face_index,
            threshold=limit,
        )
    else:
        assert person_id is not None
        result = verify_person(
            session,
            pipeline=context.pipeline,
            image=first,
            face_index=face_index,
            person_id=person_id,
            threshold=limit,
        )
    return VerifyResponse.of(result)


@router.post(
    "/search",
    summary="Retrospective search: past events showing the face of a photo, best first (enroll scope)",
    description="Finds a face in every stored sighting by its descriptor: a biometric search of the archive, "
    "so it needs the enroll scope, like the face crops.",
    responses=IMAGE_ERRORS,
)
def search(
    context: Context,
    session: DbSession,
    key: EnrollKey,
    image: Annotated[UploadFile, File(description="A photo of the face to look for.")],
    face_index: FaceIndex = None,
    threshold: Threshold = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SearchResponse:
    distance = threshold if threshold is not None else context.policy.match_threshold
    result = search_events(
        session,
        pipeline=context.pipeline,
        image=decoded(image, limits=context.limits),
        face_index=face_index,
        threshold=distance,
        limit=limit,
        policy=context.policy,
    )
    return SearchResponse(
        model_version=result.model_version,
        threshold=distance,
        face=FaceOut.of(result.face),
        hits=[SearchHitOut.of(hit) for hit in result.hits],
    )
