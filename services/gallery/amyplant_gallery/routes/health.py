"""GET /health: the state of Redis, Postgres with pgvector, the model runtime and the workers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from amyplant_gallery.dependencies import Context
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
    responses={503: {"model": Health, "description": "At least one part is not ok."}},
    summary="State of every part of the system",
)
async def get_health(context: Context) -> JSONResponse:
    parts = {
        "redis": await run_in_threadpool(check_redis, context.redis),
        "postgres": await run_in_threadpool(check_postgres, context.engine),
        "models": await run_in_threadpool(check_models, context.models),
        "workers": await run_in_threadpool(check_workers, context.celery),
    }
    health = overall(parts)
    return JSONResponse(health.model_dump(), status_code=200 if health.status == "ok" else 503)


@router.get("/livez", summary="The gallery process answers (for liveness probes; checks no dependency)")
async def get_livez() -> dict[str, str]:
    return {"status": "alive"}
