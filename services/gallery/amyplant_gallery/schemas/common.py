"""Bodies shared by several resources: a detected face, its quality, pages; bounded ids and checked text."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from amyplant_faces.pipeline.faces import FaceObservation
from amyplant_store.text import MULTI_LINE_PATTERN, SINGLE_LINE_PATTERN, control_character, normalise_name

BOX_DESCRIPTION = "x1, y1, x2, y2 in pixels of the upright image (EXIF orientation applied)"

# Ids and offsets are Postgres bigints: a larger number is refused (422) before it reaches a query. `lt`
# rather than `le`, so the bound stays exact where the schema renders it as a float (2^63 is one).
BIGINT_LIMIT = 2**63
RowId = Annotated[int, Field(ge=1, lt=BIGINT_LIMIT)]
Offset = Annotated[int, Field(ge=0, lt=BIGINT_LIMIT, description="Items skipped before the page.")]


def _single_line(text: str) -> str:
    found = control_character(text)
    if found is not None:
        raise ValueError(f"control characters are not allowed (found U+{ord(found):04X})")
    return text


def _multi_line(text: str) -> str:
    found = control_character(text, multiline=True)
    if found is not None:
        raise ValueError(
            f"control characters other than tab and line breaks are not allowed (found U+{ord(found):04X})"
        )
    return text


def _person_name(name: str) -> str:
    # An empty result is left to the store, whose answer (code invalid_name) callers already know.
    return normalise_name(_single_line(name))


# Text without control characters (Postgres refuses NUL; the others would spoof what a person reads); the
# pattern only documents the check, which the validator makes with a clearer message.
SingleLine = Annotated[
    str, AfterValidator(_single_line), Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN})
]
MultiLine = Annotated[
    str, AfterValidator(_multi_line), Field(json_schema_extra={"pattern": MULTI_LINE_PATTERN})
]
# A person's name, normalised as the store compares names (NFC, plain spaces and hyphens, blanks collapsed).
PersonName = Annotated[
    str, AfterValidator(_person_name), Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN})
]


def multipart_optional(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of an optional form field: multipart cannot send null, the field is left out."""
    options = [option for option in schema.pop("anyOf", []) if option.get("type") != "null"]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options


class QualityOut(BaseModel):
    size_px: float = Field(description="Shorter side of the face box, in pixels.")
    sharpness: float = Field(
        description="Variance of the Laplacian of the aligned 150 px chip; low = blurred."
    )


class FaceOut(BaseModel):
    """A face found in an uploaded image."""

    box: list[float] = Field(description=BOX_DESCRIPTION, min_length=4, max_length=4)
    score: float = Field(description="Detector confidence, 0-1.")
    landmarks: list[list[float]] = Field(description="Eyes, nose tip, mouth corners (x, y).")
    age: float | None = Field(description="Estimated age in years.")
    gender: str | None = Field(description="'female' or 'male' (estimated).")
    female_probability: float | None = None
    quality: QualityOut

    @classmethod
    def of(cls, face: FaceObservation) -> FaceOut:
        return cls(
            box=[round(float(v), 1) for v in face.box],
            score=round(face.score, 4),
            landmarks=[[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks],
            age=round(face.age, 1) if face.age is not None else None,
            gender=face.gender,
            female_probability=round(face.female_probability, 4)
            if face.female_probability is not None
            else None,
            quality=QualityOut(
                size_px=round(face.quality.size_px, 1), sharpness=round(face.quality.sharpness, 1)
            ),
        )


FACE_EXAMPLE: dict[str, Any] = {
    "box": [533.0, 190.0, 962.0, 618.0],
    "score": 0.894,
    "landmarks": [[660.2, 350.1], [830.7, 348.9], [748.0, 440.3], [672.5, 520.8], [822.4, 519.6]],
    "age": 49.0,
    "gender": "male",
    "female_probability": 0.02,
    "quality": {"size_px": 428.0, "sharpness": 286.6},
}


class PageInfo(BaseModel):
    total: int = Field(description="How many items match, over all pages.")
    limit: int
    offset: int
