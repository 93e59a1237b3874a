"""Job pages: the list per state with filters, page numbers and bulk actions; the Retries view; one job's detail."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from craft_jobs.dashboard import limits_api, service
from craft_jobs.dashboard.deps import Operator, Scope, State, Viewer
from craft_jobs.dashboard.errors import ApiError
from craft_jobs.dashboard.pages.paging import PAGE_SIZES, PageNumber, PageSize, make_pager
from craft_jobs.dashboard.pages.render import back, render
from craft_jobs.dashboard.state import DashboardState
from craft_jobs.states import JobState
from craft_jobs.store.stats import Counted, JobFilter

# "Select all N matching" acts on at most this many jobs per click (each goes through the scheduler).
MATCHING_LIMIT = 5_000
SearchText = Annotated[str | None, Query(max_length=200)]


def job_filter(scope: Scope, job_state: JobState | None, tenant: str | None, job_type: str | None,
               queue: str | None, search: str | None) -> JobFilter:
    return JobFilter(state=job_state, tenants=scope.narrow(tenant), job_type=job_type or None,
                     queue=queue or None, search=search or None)


async def tab_counts(state: DashboardState, scope: Scope, where: JobFilter,
                     unfiltered: dict[JobState, int]) -> dict[JobState, Counted]:
    """Per-state counts under the list's filters (a text search is not counted: it is a bounded scan).

    Tenants alone are counted exactly (their indexes cover them); a job type or
    queue filter is counted in a bounded sample (StatsStore.filtered_counts)."""
    totals = unfiltered if where.tenants == scope.tenants else await state.stats.state_counts(where.tenants)
    if where.job_type is None and where.queue is None:
        return {s: Counted(n, False) for s, n in totals.items()}
    return await state.stats.filtered_counts(where, totals)


async def matching_ids(state: DashboardState, where: JobFilter) -> list[int]:
    """Every job the filters select, newest first, up to MATCHING_LIMIT (keyset, so a
    requeue that moves jobs out of the selected state skips none)."""
    ids: list[int] = []
    before: int | None = None
    while len(ids) < MATCHING_LIMIT:
        page = await state.stats.list_jobs(where, before_id=before, limit=service.BULK_LIMIT)
        ids.extend(job.id for job in page.jobs)
        if page.next_before_id is None:
            break
        before = page.next_before_id
    return ids[:MATCHING_LIMIT]


def list_context(filters: dict, size: int) -> dict:
    return {"filters": filters, "page_sizes": PAGE_SIZES, "size": size}


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
        search: SearchText = None,
        before_id: Annotated[int | None, Query(ge=1, le=limits_api.BIGINT_MAX)] = None,
        page: PageNumber = 1,
        limit: PageSize = 50,
    ) -> Response:
        where = job_filter(scope, job_state, tenant, job_type, queue, search)
        chips = await state.stats.state_counts(scope.tenants)
        counts = await tab_counts(state, scope, where, chips)
        total = counts[job_state] if job_state else Counted(
            sum(c.count for c in counts.values()), any(c.capped for c in counts.values()),
            estimated=any(c.estimated for c in counts.values()))
        pager = make_pager(page, limit, total)
        # A text search pages by keyset ("Older"): it reads a bounded window, not a count.
        listing = await state.stats.list_jobs(where, before_id=before_id, limit=limit,
                                              offset=0 if search else pager.offset)
        if total.estimated:
            # An estimate never claims fewer jobs than the page shows.
            seen = pager.offset + len(listing.jobs) + (1 if listing.next_before_id else 0)
            total = Counted(max(total.count, seen), False, estimated=True)
            pager = make_pager(page, limit, total)
            if job_state:
                counts[job_state] = total
        filters = {"state": job_state.value if job_state else None, "tenant": tenant, "job_type": job_type,
                   "queue": queue, "search": search, "limit": limit if limit != 50 else None}
        tenants = await service.filter_tenants(state, scope)
        return render(
            request, state, "jobs.html", listing=listing, pager=pager, current_state=job_state, tab_counts=counts,
            counts=chips, tenants=tenants, before_id=before_id,
            job_types=await state.stats.job_types(), **list_context(filters, limit),
        )

    @pages.get("/retries")
    async def retries_page(
        request: Request, state: State, scope: Viewer, tenant: str | None = None, job_type: str | None = None,
        queue: str | None = None, page: PageNumber = 1, limit: PageSize = 50,
    ) -> Response:
        where = job_filter(scope, JobState.SCHEDULED, tenant, job_type, queue, None)
        pager = make_pager(page, limit, await state.stats.retry_count(where))
        jobs = await state.stats.list_retries(where, limit=limit, offset=pager.offset)
        filters = {"tenant": tenant, "job_type": job_type, "queue": queue, "limit": limit if limit != 50 else None}
        return render(request, state, "retries.html", jobs=jobs, pager=pager,
                      counts=await state.stats.state_counts(scope.tenants), **list_context(filters, limit))

    @pages.get("/jobs/{job_id}")
    async def job_page(request: Request, state: State, scope: Viewer, job_id: limits_api.JobId) -> Response:
        detail = await service.job_detail(state, scope, job_id)
        return render(request, state, "job.html", detail=detail, job=detail.job,
                      counts=await state.stats.state_counts(scope.tenants),
                      can_operate=scope.can_operate(detail.job.tenant_id))

    @pages.post("/jobs/bulk")
    async def bulk_action(
        state: State,
        scope: Operator,
        action: Annotated[Literal["requeue", "delete"], Form()],
        ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies defaults
        return_to: Annotated[str, Form()] = "/jobs",
        all_matching: Annotated[bool, Form()] = False,
        job_state: Annotated[JobState | None, Form(alias="state")] = None,
        tenant: Annotated[str | None, Form()] = None,
        job_type: Annotated[str | None, Form()] = None,
        queue: Annotated[str | None, Form()] = None,
        search: Annotated[str | None, Form(max_length=200)] = None,
    ) -> Response:
        verb = "requeued" if action == "requeue" else "deleted"
        return_to = return_to if return_to.startswith(("/jobs", "/retries")) else "/jobs"
        if all_matching:
            if search:
                # The page counts no search hits, so "all N matching" would not be what was shown.
                raise ApiError(422, "invalid", "cannot be combined with a text search: tick the jobs instead",
                               "all_matching")
            where = job_filter(scope, job_state, tenant, job_type, queue, None)
            if return_to.startswith("/retries"):
                ids = [job.id for job in await state.stats.list_retries(where, limit=MATCHING_LIMIT)]
            else:
                ids = await matching_ids(state, where)
        if not ids:
            # A click with no box ticked is a slip, not bad input: say so on the page, change nothing.
            return back(state, return_to, f"Nothing selected: tick the jobs to be {verb} first")
        done, skipped = 0, 0
        for start in range(0, len(ids), service.BULK_LIMIT):
            result = await service.bulk(state, scope, ids[start:start + service.BULK_LIMIT], action)
            done += len(result.done)
            skipped += len(result.not_found) + len(result.forbidden) + len(result.unchanged)
        notice = f"{done} job(s) {verb}" + (f"; {skipped} skipped" if skipped else "")
        if all_matching and len(ids) == MATCHING_LIMIT:
            notice += f" (at most {MATCHING_LIMIT:,} per click: run it again for the rest)"
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
