"""The recurring jobs page: schedule, time zone, next and last run; trigger, pause, resume, delete."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from craft_jobs.dashboard import service
from craft_jobs.dashboard.deps import Operator, State, Viewer
from craft_jobs.dashboard.pages.render import back, render

DONE = {"trigger": "triggered", "pause": "paused", "resume": "resumed", "delete": "deleted"}


def router(base: str) -> APIRouter:
    pages = APIRouter(prefix=base, include_in_schema=False)

    @pages.get("/recurring")
    async def recurring_page(request: Request, state: State, scope: Viewer) -> Response:
        recurring = await state.stats.list_recurring(scope.tenants)
        return render(request, state, "recurring.html", recurring=recurring,
                      operable={(r.tenant_id, r.id) for r in recurring if scope.can_operate(r.tenant_id)},
                      counts=await state.stats.state_counts(scope.tenants))

    # The id may hold "/" (`<namespace>/<name>`); the action is the last segment.
    # Ids are per tenant: the buttons say whose (`?tenant=`).
    @pages.post("/recurring/{recurring_id:path}/{action}")
    async def recurring_action(
        state: State, scope: Operator, recurring_id: str, action: Literal["trigger", "pause", "resume", "delete"],
        tenant: str | None = None,
    ) -> Response:
        result = await service.act_on_recurring(state, scope, recurring_id, action, tenant)
        notice = f"{recurring_id} {DONE[action]}" + (f": job {result}" if action == "trigger" else "")
        return back(state, "/recurring", notice)

    return pages
