"""/api/servers: engine and operator replicas, their heartbeat and load."""

from __future__ import annotations

from fastapi import APIRouter

from craft_jobs.dashboard.api.envelope import Page
from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.store.models import Server

router = APIRouter(prefix="/api", tags=["servers"])


@router.get("/servers", response_model=Page[Server], summary="Engine and operator replicas")
async def list_servers(state: State, scope: Viewer) -> Page[Server]:
    return Page(items=await state.store.list_servers())
