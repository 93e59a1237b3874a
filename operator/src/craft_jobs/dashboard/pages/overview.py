"""The overview page: counts, the succeeded/failed chart, processing-time percentiles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from craft_jobs.dashboard import service
from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.dashboard.pages.render import render


def router(base: str) -> APIRouter:
    pages = APIRouter(prefix=base, include_in_schema=False)

    @pages.get("/")
    async def overview_page(request: Request, state: State, scope: Viewer) -> Response:
        data = await service.overview(state, scope)
        return render(request, state, "overview.html", overview=data, counts=data.counts,
                      overview_json=data.model_dump_json())

    return pages
