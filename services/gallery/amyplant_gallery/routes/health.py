"""GET /health: the state of Redis, Postgres with pgvector, the model runtime and the workers.

Probes need no key and get each part's ok flag only; versions, addresses, paths and errors describe the
installation to an attacker, so they are shown to callers with a valid API key (any scope).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from amyplant_gallery.dependencies import Context, OptionalKey
from amyplant_gallery.errors import error_responses
from amyplant_gallery.health import (
    Health,
    check_models,
    check_postgres,
    check_redis,
    check_workers,
    overall,
)

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "At least one part is not ok."}, **error_responses(401)},
    summary="State of every part of the system (details with an API key)",
)
async def get_health(context: Context, key: OptionalKey) -> JSONResponse:
    parts = {
        "redis": await run_in_threadpool(check_redis, context.redis),
        "postgres": await run_in_threadpool(check_postgres, context.engine),
        "models": await run_in_threadpool(check_models, context.models),
        "workers": await run_in_threadpool(check_workers, context.celery),
    }
    health = overall(parts)
    body = health.model_dump() if key is not None else public_health(health)
    return JSONResponse(body, status_code=200 if health.status == "ok" else 503)


def public_health(health: Health) -> dict[str, object]:
    return {"status": health.status, "parts": {name: {"ok": part.ok} for name, part in health.parts.items()}}


@router.get("/livez", summary="The gallery process answers (for liveness probes; checks no dependency)")
async def get_livez() -> dict[str, str]:
    return {"status": "alive"}
