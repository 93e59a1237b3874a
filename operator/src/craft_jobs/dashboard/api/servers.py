"""/api/servers: engine and operator replicas, their heartbeat and load."""

from __future__ import annotations

from fastapi import APIRouter

from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.store.models import Server

router = APIRouter(prefix="/api", tags=["servers"])


@router.get("/servers", response_model=list[Server], summary="Engine and operator replicas")
async def list_servers(state: State, scope: Viewer) -> list[Server]:
    return await state.store.list_servers()
