"""Annotated live frames: boxes and labels drawn; Redis keeps only the newest frame, with a TTL."""

from __future__ import annotations

import numpy as np
import redis

from amyplant_inference.annotate import COLOURS, FaceLabel, ascii_text, draw_faces
from amyplant_queue.annotated_frames import ANNOTATED_KEY, AnnotatedFrames
from amyplant_queue.frames import decode_image


def test_boxes_and_labels_are_drawn_in_the_status_colour() -> None:
    frame = np.full((240, 320, 3), 128, dtype=np.uint8)
    labels = [
        FaceLabel(box=(100, 100, 180, 200), name="José Ñúñez", status="known", age=41.6, gender="male"),
        FaceLabel(box=(10, 5, 60, 60), status="unknown"),
    ]
    drawn = draw_faces(frame, labels)
    assert (frame == 128).all()  # the input frame is left as it was
    assert tuple(drawn[150, 100]) == COLOURS["known"]  # the left edge of the first box
    assert tuple(drawn[30, 10]) == COLOURS["unknown"]
    assert (drawn[60:100, 100:180] != 128).any()  # the label block above the first box
    assert labels[0].details() == "42 y, male"
    assert ascii_text("José Ñúñez") == "Jose Nunez"


def test_a_face_is_titled_by_name_visitor_or_state() -> None:
    box = (0.0, 0.0, 10.0, 10.0)
    assert FaceLabel(box=box, name="Ada", status="known").title() == "Ada"
    assert FaceLabel(box=box, status="unknown", visitor_id=7).title() == "unknown #7"
    assert FaceLabel(box=box, status="unknown").title() == "unknown"
    assert FaceLabel(box=box).title() == "..."


def test_only_a_newer_frame_replaces_the_stored_one(redis_client: redis.Redis) -> None:
    frames = AnnotatedFrames(redis_client, ttl_s=30)
    dark, bright = np.full((48, 64, 3), 20, np.uint8), np.full((48, 64, 3), 230, np.uint8)
    assert frames.store("door", bright, captured_at=1000.5)
    assert not frames.store("door", dark, captured_at=1000.2)  # finished later, but captured earlier
    stored = frames.load("door")
    assert stored is not None and decode_image(stored).mean() > 200
    assert 0 < redis_client.ttl(ANNOTATED_KEY.format(camera_id="door")) <= 30
    assert frames.load("garage") is None
