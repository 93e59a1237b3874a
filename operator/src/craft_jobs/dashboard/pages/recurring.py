"""Recurring jobs: the list (schedule, next and last run) and one job's page (schedule in words,
next five fire times, its runs page by page); trigger, pause, resume, delete from either."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from craft_jobs.dashboard import service
from craft_jobs.dashboard.deps import Operator, State, Viewer
from craft_jobs.dashboard.pages.paging import PAGE_SIZES, PageNumber, PageSize, make_pager
from craft_jobs.dashboard.pages.render import back, render
from craft_jobs.dashboard.pages.schedule_words import schedule_words
from craft_jobs.errors import CraftJobsError
from craft_jobs.schedules import parse_schedule
from craft_jobs.store.models import RecurringJob

DONE = {"trigger": "triggered", "pause": "paused", "resume": "resumed", "delete": "deleted"}
FIRE_TIMES = 5


def next_fire_times(recurring: RecurringJob, now: datetime, count: int = FIRE_TIMES) -> list[datetime]:
    """The next slots of the schedule from now (whether or not it is paused); none if it does not parse."""
    try:
        schedule = parse_schedule(recurring.cron, recurring.interval_minutes, recurring.time_zone, recurring.anchor_at)
    except CraftJobsError:
        return []  # the page shows the schedule error instead
    slots, moment = [], now
    for _ in range(count):
        moment = schedule.next_after(moment)
        slots.append(moment)
    return slots


def router(base: str) -> APIRouter:
    pages = APIRouter(prefix=base, include_in_schema=False)

    @pages.get("/recurring")
    async def recurring_page(request: Request, state: State, scope: Viewer) -> Response:
        recurring = await state.stats.list_recurring(scope.tenants)
        return render(request, state, "recurring.html", recurring=recurring,
                      words={r.id: schedule_words(r.cron, r.interval_minutes) for r in recurring},
                      operable={(r.tenant_id, r.id) for r in recurring if scope.can_operate(r.tenant_id)},
                      counts=await state.stats.state_counts(scope.tenants))

    @pages.get("/recurring/{recurring_id:path}")
    async def recurring_job_page(request: Request, state: State, scope: Viewer, recurring_id: str,
                                 page: PageNumber = 1, limit: PageSize = 20, tenant: str | None = None) -> Response:
        recurring = await service.visible_recurring(state, scope, recurring_id, tenant)
        pager = make_pager(page, limit, await state.stats.recurring_run_count(recurring_id, recurring.tenant_id))
        runs = await state.stats.recurring_runs(recurring_id, recurring.tenant_id, limit=limit, offset=pager.offset)
        return render(
            request, state, "recurring_job.html", r=recurring, runs=runs, pager=pager, page_sizes=PAGE_SIZES,
            size=limit, filters={"limit": limit if limit != 20 else None,
                                 "tenant": recurring.tenant_id if state.options.enable_multi_tenancy else None},
            words=schedule_words(recurring.cron, recurring.interval_minutes),
            fire_times=next_fire_times(recurring, state.stats.clock.now()),
            can_operate=scope.can_operate(recurring.tenant_id), counts=await state.stats.state_counts(scope.tenants),
        )

    # The id may hold "/" (`<namespace>/<name>`); the action is the last segment.
    # Ids are per tenant: the buttons say whose (`?tenant=`).
    @pages.post("/recurring/{recurring_id:path}/{action}")
    async def recurring_action(
        state: State, scope: Operator, recurring_id: str, action: Literal["trigger", "pause", "resume", "delete"],
        tenant: str | None = None,
        return_to: Annotated[str, Form()] = "/recurring",
    ) -> Response:
        result = await service.act_on_recurring(state, scope, recurring_id, action, tenant)
        notice = f"{recurring_id} {DONE[action]}" + (f": job {result}" if action == "trigger" else "")
        # Back where the click came from, but a deleted job's own page is gone.
        target = return_to if return_to.startswith("/recurring") and action != "delete" else "/recurring"
        return back(state, target, notice)

    return pages
