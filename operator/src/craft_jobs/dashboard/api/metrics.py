"""/metrics (Prometheus), /healthz (the process answers), /readyz (and so does the database)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from craft_jobs.dashboard.deps import State, current_principal
from craft_jobs.dashboard.errors import ApiError
from craft_jobs.errors import CraftJobsError

router = APIRouter(tags=["metrics"])


# Not response_class=PlainTextResponse: that would document the JSON error bodies as text too.
PROMETHEUS_TEXT = {200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}


@router.get("/metrics", response_model=None, responses=PROMETHEUS_TEXT, summary="Prometheus metrics (craft_jobs_*)")
async def metrics(request: Request, state: State) -> Response:
    if not state.settings.public_metrics:
        await current_principal(request, state)
    return Response(await state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: PostgreSQL answers and the schema is migrated")
async def readyz(state: State) -> Response:
    try:
        ready = state.stats is not None and await state.stats.ready()
    except CraftJobsError as exc:
        raise ApiError(503, "not_ready", str(exc)) from exc
    if not ready:
        raise ApiError(503, "not_ready", "the schema is not migrated")
    return JSONResponse({"status": "ok"})
