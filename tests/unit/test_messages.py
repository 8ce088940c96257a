"""Queue messages: versioned, strict, references only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from amyplant_queue.messages import (
    FrameMessage,
    MessageVersionError,
    TrainingRequest,
    decode_frame_message,
    frame_key,
)


def _message() -> FrameMessage:
    return FrameMessage(
        camera_id="front_door",
        sequence=7,
        frame_key=frame_key("front_door", 7, "run1"),
        width=640,
        height=480,
        run_id="abc",
    )


def test_round_trip_through_json_keeps_every_field() -> None:
    message = _message()
    decoded = decode_frame_message(message.model_dump(mode="json"))
    assert decoded == message
    assert decoded.schema_version == 1
    assert decoded.frame_key == "amyplant:frame:front_door:7:run1"


def test_unknown_schema_version_is_refused_clearly() -> None:
    payload = _message().model_dump(mode="json") | {"schema_version": 2}
    with pytest.raises(MessageVersionError, match="schema_version 2"):
        decode_frame_message(payload)


def test_pixels_cannot_ride_along() -> None:
    payload = _message().model_dump(mode="json") | {"pixels": [0, 1, 2]}
    with pytest.raises(ValidationError, match="pixels"):
        decode_frame_message(payload)


def test_camera_ids_are_restricted_to_safe_characters() -> None:
    with pytest.raises(ValidationError):
        FrameMessage(camera_id="front door;rm", sequence=0, frame_key="k", width=1, height=1, run_id="r")


def test_a_rest_training_body_becomes_a_training_message_with_the_same_options() -> None:
    from amyplant_gallery.routes.training import TrainingStart

    body = TrainingStart(dataset="/data/front_door", epochs=3, stride=16, size=160)
    request = TrainingRequest(job_id="abcdef12", **body.model_dump())
    assert (request.epochs, request.stride, request.size, request.dataset) == (3, 16, 160, "/data/front_door")
    assert request.backbone == "blazeface" and request.force is False


@pytest.mark.parametrize(
    "options",
    [
        {"size": 200},
        {"stride": 4},
        {"backbone": "resnet"},
        {"epochs": 0},
        {"expansion": 0},
        {"close_up_share": 1.5},
    ],
)
def test_training_options_out_of_range_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TrainingRequest(job_id="abcdef12", dataset="/data", **options)
