"""The servers page (each engine/operator replica: heartbeat age, workers busy of total, queues)
and the queues page (per queue and tenant: jobs waiting, the oldest one's age, jobs running)."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import Response

from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.dashboard.pages.render import render
from craft_jobs.store.stats import QueueLoad


def per_queue(loads: list[QueueLoad]) -> list[QueueLoad]:
    """The per-tenant rows summed into one row per queue."""
    totals: dict[str, list[QueueLoad]] = defaultdict(list)
    for load in loads:
        totals[load.queue].append(load)
    return [
        QueueLoad(queue=queue, tenant_id="", enqueued=sum(r.enqueued for r in rows),
                  processing=sum(r.processing for r in rows),
                  oldest_enqueued_at=min((r.oldest_enqueued_at for r in rows if r.oldest_enqueued_at), default=None))
        for queue, rows in totals.items()
    ]


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

    @pages.get("/queues")
    async def queues_page(request: Request, state: State, scope: Viewer) -> Response:
        loads = await state.stats.queues(scope.tenants)
        servers = await state.store.list_servers()
        # Which servers take each queue (None: every queue).
        listeners = {q.queue: [s.id for s in servers if s.queues is None or q.queue in s.queues]
                     for q in loads}
        return render(request, state, "queues.html", queues=per_queue(loads), loads=loads, listeners=listeners,
                      counts=await state.stats.state_counts(scope.tenants))

    return pages
