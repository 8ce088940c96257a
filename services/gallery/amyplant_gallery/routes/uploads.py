"""How the routes take uploaded images: decoded within the limits, and optional face choices parsed."""

from __future__ import annotations

import json
from collections.abc import Sequence

from fastapi import UploadFile

from amyplant_gallery.enrollment import FaceChoice, UploadedFile
from amyplant_gallery.uploads import DecodedImage, UploadLimits, read_image
from amyplant_store.errors import GalleryError

MAX_FILES_PER_REQUEST = 50


def upload_name(upload: UploadFile, position: int) -> str:
    return upload.filename or f"file {position + 1}"


def decoded(upload: UploadFile, *, limits: UploadLimits) -> DecodedImage:
    """The upload's image; a bad file is the whole request's error here (single-image routes)."""
    return read_image(upload.file, filename=upload_name(upload, 0), limits=limits)


def uploaded_files(uploads: Sequence[UploadFile]) -> list[UploadedFile]:
    if not uploads:
        raise GalleryError("no_files", "send one or more image files in the 'files' field", status=422)
    if len(uploads) > MAX_FILES_PER_REQUEST:
        raise GalleryError(
            "too_many_files",
            f"send at most {MAX_FILES_PER_REQUEST} files per call, got {len(uploads)}",
            status=413,
            limit_files=MAX_FILES_PER_REQUEST,
        )
    return [UploadedFile(filename=upload_name(u, i), stream=u.file) for i, u in enumerate(uploads)]


def parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """'x1,y1,x2,y2' (or a JSON list of four numbers) as a box."""
    if text is None or not text.strip():
        return None
    try:
        values = json.loads(text) if text.strip().startswith("[") else [float(v) for v in text.split(",")]
        x1, y1, x2, y2 = (float(v) for v in values)
    except (ValueError, TypeError) as error:
        raise GalleryError(
            "invalid_face_box", f"face_box must be 'x1,y1,x2,y2', got {text!r}", status=422
        ) from error
    if not (x2 > x1 and y2 > y1):
        raise GalleryError("invalid_face_box", "face_box needs x2 > x1 and y2 > y1", status=422)
    return (x1, y1, x2, y2)


def parse_choices(text: str | None) -> dict[str, FaceChoice]:
    """Per-file choices: a JSON object {"file name": {"face_index": 1} or {"face_box": [x1, y1, x2, y2]}}."""
    if text is None or not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise GalleryError("invalid_choices", f"choices is not valid JSON: {error}", status=422) from error
    if not isinstance(raw, dict):
        raise GalleryError("invalid_choices", "choices must be a JSON object keyed by file name", status=422)
    choices = {}
    for name, choice in raw.items():
        if not isinstance(choice, dict) or not set(choice) <= {"face_index", "face_box"}:
            raise GalleryError(
                "invalid_choices", f"choice for {name!r} must hold face_index or face_box", status=422
            )
        index = choice.get("face_index")
        if index is not None and not isinstance(index, int):
            raise GalleryError("invalid_choices", f"face_index for {name!r} must be an integer", status=422)
        box = choice.get("face_box")
        choices[str(name)] = FaceChoice(
            index=index, box=parse_box(json.dumps(box)) if box is not None else None
        )
    return choices
