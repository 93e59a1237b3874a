"""/metrics (Prometheus), /healthz (the process answers), /readyz (and so does the database)."""

from __future__ import annotations

import hmac
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from craft_jobs.dashboard.auth import Role
from craft_jobs.dashboard.deps import State, bearer_token, header_bearer_token
from craft_jobs.dashboard.errors import ApiError
from craft_jobs.errors import CraftJobsError, OptionsError

router = APIRouter(tags=["metrics"])


# Not response_class=PlainTextResponse: that would document the JSON error bodies as text too.
PROMETHEUS_TEXT = {200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}


async def metrics_scope(request: Request, state: State) -> list[str] | None:
    """The tenants whose series the caller may read (None: all, and the installation-wide ones)."""
    settings = state.settings
    if settings.public_metrics:
        return None
    token = header_bearer_token(request)
    expected = read_metrics_token(settings.metrics_token_file)
    if token and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    principal = await state.auth.authenticate(bearer_token(request))
    if principal is None:
        raise ApiError(401, "unauthenticated", "a valid bearer token (or the metrics token) is required")
    return principal.tenants_with(Role.VIEWER) if state.options.enable_multi_tenancy else None


@router.get("/metrics", response_model=None, responses=PROMETHEUS_TEXT, summary="Prometheus metrics (craft_jobs_*)")
async def metrics(request: Request, state: State) -> Response:
    tenants = await metrics_scope(request, state)
    body = await state.metrics.render(tenants, per_tenant=state.options.enable_multi_tenancy)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def read_metrics_token(path: Path | None) -> str | None:
    """Read at each scrape, so a rotated Secret takes effect without a restart."""
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except OSError as exc:
        raise OptionsError("CRAFT_JOBS_DASHBOARD_METRICS_TOKEN_FILE (metrics_token_file)",
                           f"cannot read {path}: {exc.strerror}") from exc


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
