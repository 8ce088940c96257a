"""The live feed of sightings: workers publish each recorded track on a Redis channel; the API streams it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis

EVENTS_CHANNEL = "amyplant:events:live"


def publish_sightings(client: redis.Redis, sightings: Sequence[dict[str, Any]]) -> None:
    """Fire and forget: nobody listening is fine, the events are in Postgres anyway."""
    for sighting in sightings:
        client.publish(EVENTS_CHANNEL, json.dumps(sighting, default=str))


async def stream_sightings(redis_url: str, *, heartbeat_s: float = 15.0) -> AsyncIterator[str]:
    """Server-sent events: one `event: sighting` per published sighting, comments as heartbeats."""
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(EVENTS_CHANNEL)
    try:
        yield ": connected\n\n"
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=heartbeat_s)
            if message is None:
                yield ": keep-alive\n\n"
                continue
            data = message["data"].decode() if isinstance(message["data"], bytes) else str(message["data"])
            yield f"event: sighting\ndata: {data}\n\n"
    finally:
        await pubsub.unsubscribe(EVENTS_CHANNEL)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
