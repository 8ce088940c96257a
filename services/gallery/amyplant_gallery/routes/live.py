"""Live view: camera states, each camera's latest annotated frame, a stream of sightings, and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from amyplant_gallery.dependencies import Context, ReadKey
from amyplant_gallery.errors import error_responses
from amyplant_queue.annotated_frames import AnnotatedFrames
from amyplant_queue.camera_status import read_statuses
from amyplant_queue.celery_app import FRAMES_QUEUE, TRAINING_QUEUE
from amyplant_queue.live_feed import stream_sightings
from amyplant_store.errors import GalleryError
from amyplant_telemetry.queue_depth import QueueDepthCollector

router = APIRouter(tags=["live"])


@router.get(
    "/api/v1/cameras",
    summary="Every camera's capture state and counters",
    responses=error_responses(401, 403),
)
def list_cameras(context: Context, key: ReadKey) -> list[dict[str, object]]:
    return [status.model_dump(mode="json") for status in read_statuses(context.redis)]


@router.get(
    "/api/v1/cameras/{camera_id}/frame.jpg",
    summary="The camera's latest frame with boxes, names, age and gender drawn on it",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 403, 404)},
)
def latest_frame(camera_id: str, context: Context, key: ReadKey) -> Response:
    jpeg = AnnotatedFrames(context.redis, ttl_s=1).load(camera_id)
    if jpeg is None:
        raise GalleryError("no_live_frame", f"camera {camera_id!r} has no recent frame", status=404)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/api/v1/events/stream",
    summary="Sightings as they are recorded (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(401, 403)},
)
async def event_stream(context: Context, key: ReadKey) -> StreamingResponse:
    url = context.redis_url
    return StreamingResponse(
        stream_sightings(url),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/metrics", summary="Prometheus metrics of the gallery", response_class=Response)
def metrics(context: Context) -> Response:
    registry = CollectorRegistry()
    registry.register(QueueDepthCollector(context.redis, [FRAMES_QUEUE, TRAINING_QUEUE]))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
