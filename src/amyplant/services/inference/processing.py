"""What a worker does with one frame: load it by reference, run the face pipeline, record the result."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from amyplant.core.frames import load_frame
from amyplant.core.messages import FrameMessage
from amyplant.core.pipeline.faces import FacePipeline

LATEST_RESULT_KEY = "amyplant:camera:{camera_id}:latest"


@dataclass(frozen=True)
class FrameResult:
    """What one frame yielded."""

    camera_id: str
    sequence: int
    faces: int
    elapsed_ms: float


class FrameProcessor:
    """Holds the per-process resources (Redis client, face pipeline) and handles frames one at a time."""

    def __init__(self, *, redis_client: redis.Redis, pipeline: FacePipeline) -> None:
        self.redis = redis_client
        self.pipeline = pipeline

    def process(self, message: FrameMessage) -> FrameResult:
        started = time.perf_counter()
        image = load_frame(self.redis, message.frame_key)
        faces = self.pipeline.analyse(image)
        result = FrameResult(
            camera_id=message.camera_id,
            sequence=message.sequence,
            faces=len(faces),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
        summary = {
            "camera_id": message.camera_id,
            "sequence": message.sequence,
            "captured_at": message.captured_at.isoformat(),
            "faces": [
                {"box": face.box, "score": face.score, "age": face.age, "gender": face.gender}
                for face in faces
            ],
        }
        self.redis.set(LATEST_RESULT_KEY.format(camera_id=message.camera_id), json.dumps(summary), ex=3600)
        # Deleting the frame tells the capture service it is no longer pending.
        self.redis.delete(message.frame_key)
        return result
