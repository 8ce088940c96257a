"""Bodies shared by several resources: a detected face, its quality, pages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from amyplant_faces.pipeline.faces import FaceObservation

BOX_DESCRIPTION = "x1, y1, x2, y2 in pixels of the upright image (EXIF orientation applied)"


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
