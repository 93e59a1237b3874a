"""Job pages: the list per state with filters and bulk actions, and one job's detail."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from craft_jobs.dashboard import limits_api, service
from craft_jobs.dashboard.deps import Operator, State, Viewer
from craft_jobs.dashboard.errors import ApiError
from craft_jobs.dashboard.pages.render import back, render
from craft_jobs.states import JobState
from craft_jobs.store.stats import JobFilter


def router(base: str) -> APIRouter:
    pages = APIRouter(prefix=base, include_in_schema=False)

    @pages.get("/jobs")
    async def jobs_page(
        request: Request,
        state: State,
        scope: Viewer,
        job_state: Annotated[JobState | None, Query(alias="state")] = None,
        tenant: str | None = None,
        job_type: str | None = None,
        queue: str | None = None,
        search: Annotated[str | None, Query(max_length=200)] = None,
        before_id: Annotated[int | None, Query(ge=1, le=limits_api.BIGINT_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        where = JobFilter(state=job_state, tenants=scope.narrow(tenant), job_type=job_type or None,
                          queue=queue or None, search=search or None)
        page = await state.stats.list_jobs(where, before_id=before_id, limit=limit)
        filters = {"state": job_state.value if job_state else None, "tenant": tenant, "job_type": job_type,
                   "queue": queue, "search": search, "limit": limit if limit != 50 else None}
        tenants = scope.tenants if scope.tenants is not None else (
            await state.stats.tenants() if state.options.enable_multi_tenancy else [])
        return render(
            request, state, "jobs.html", page=page, filters=filters, current_state=job_state,
            counts=await state.stats.state_counts(scope.tenants), job_types=await state.stats.job_types(),
            tenants=tenants, before_id=before_id,
        )

    @pages.get("/jobs/{job_id}")
    async def job_page(request: Request, state: State, scope: Viewer, job_id: limits_api.JobId) -> Response:
        detail = await service.job_detail(state, scope, job_id)
        return render(request, state, "job.html", detail=detail, job=detail.job,
                      can_operate=scope.can_operate(detail.job.tenant_id))

    @pages.post("/jobs/bulk")
    async def bulk_action(
        state: State,
        scope: Operator,
        action: Annotated[Literal["requeue", "delete"], Form()],
        ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies defaults
        return_to: Annotated[str, Form()] = "/jobs",
    ) -> Response:
        verb = "requeued" if action == "requeue" else "deleted"
        return_to = return_to if return_to.startswith("/jobs") else "/jobs"
        if not ids:
            # A click with no box ticked is a slip, not bad input: say so on the page, change nothing.
            return back(state, return_to, f"Nothing selected: tick the jobs to be {verb} first")
        result = await service.bulk(state, scope, ids, action)
        notice = f"{len(result.done)} job(s) {verb}"
        skipped = len(result.not_found) + len(result.forbidden) + len(result.unchanged)
        if skipped:
            notice += f"; {skipped} skipped"
        return back(state, return_to, notice)

    @pages.post("/jobs/{job_id}/{action}")
    async def job_action(state: State, scope: Operator, job_id: limits_api.JobId, action: Literal["requeue", "delete"]) -> Response:
        try:
            await service.act_on_job(state, scope, job_id, action)
        except ApiError as exc:
            if exc.status != 409:
                raise
            return back(state, f"/jobs/{job_id}", exc.message)  # e.g. a second click on Delete
        return back(state, f"/jobs/{job_id}", f"job {job_id} {'requeued' if action == 'requeue' else 'deleted'}")

    return pages
