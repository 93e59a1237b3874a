"""/api/stats: the overview's numbers (polled by the pages for live updates)."""

from __future__ import annotations

from fastapi import APIRouter

from craft_jobs.dashboard import service
from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.states import JobState

router = APIRouter(prefix="/api", tags=["stats"])


@router.get("/stats/overview", response_model=service.Overview,
            summary="Counts per state, succeeded/failed per minute and hour, processing-time percentiles")
async def overview(state: State, scope: Viewer) -> service.Overview:
    return await service.overview(state, scope)


@router.get("/stats/counts", response_model=dict[JobState, int], summary="Jobs per state")
async def counts(state: State, scope: Viewer) -> dict[JobState, int]:
    return await state.stats.state_counts(scope.tenants)
