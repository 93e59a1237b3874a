"""The servers page (each engine/operator replica: heartbeat age, workers busy of total, queues)
and the queues page (per queue, per tenant, and per queue and tenant: jobs waiting, the oldest
one's age, jobs running, and the concurrency limits that hold them)."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import Response

from craft_jobs.dashboard.deps import State, Viewer
from craft_jobs.dashboard.pages.render import render
from craft_jobs.store.stats import QueueLoad


def summed(loads: list[QueueLoad], by: str) -> list[QueueLoad]:
    """The per-queue-and-tenant rows summed into one row per queue (`by="queue"`) or per tenant."""
    totals: dict[str, list[QueueLoad]] = defaultdict(list)
    for load in loads:
        totals[getattr(load, by)].append(load)
    return [
        QueueLoad(queue=rows[0].queue if by == "queue" else "", tenant_id=rows[0].tenant_id if by == "tenant_id" else "",
                  enqueued=sum(r.enqueued for r in rows), processing=sum(r.processing for r in rows),
                  oldest_enqueued_at=min((r.oldest_enqueued_at for r in rows if r.oldest_enqueued_at), default=None))
        for rows in totals.values()
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
        options = state.options
        return render(request, state, "queues.html", queues=summed(loads, "queue"), loads=loads, listeners=listeners,
                      tenants=summed(loads, "tenant_id"), tenant_limit=options.tenant_limit,
                      queue_limits=options.queue_concurrency_limits, show_tenants=options.enable_multi_tenancy
                      or options.limits_concurrency, counts=await state.stats.state_counts(scope.tenants))

    return pages
