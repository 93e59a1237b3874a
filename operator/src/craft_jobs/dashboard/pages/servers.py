"""The servers page: each engine/operator replica, its heartbeat, workers and jobs in flight."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.dashboard.pages.render import render


def router(base: str) -> APIRouter:
    pages = APIRouter(prefix=base, include_in_schema=False)

    @pages.get("/servers")
    async def servers_page(request: Request, state: State, scope: Viewer) -> Response:
        now = state.stats.clock.now()
        servers = await state.store.list_servers()
        ages = {s.id: (now - s.heartbeat_at).total_seconds() for s in servers}
        return render(request, state, "servers.html", servers=servers, ages=ages,
                      timeout=state.options.server_timeout_seconds,
                      counts=await state.stats.state_counts(scope.tenants))

    return pages
