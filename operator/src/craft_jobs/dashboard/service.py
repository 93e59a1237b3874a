"""What pages and API both do: gather a view, or act through the JobScheduler.

The dashboard never changes a job itself: every action is a JobScheduler
call, scoped to the job's tenant after the caller's rights are checked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel

from craft_jobs.audit import AuditAction, TargetKind
from craft_jobs.dashboard.attempts import refusals_audited
from craft_jobs.dashboard.auth import Role
from craft_jobs.dashboard.deps import Scope
from craft_jobs.dashboard.errors import ApiError, not_found
from craft_jobs.dashboard.state import DashboardState
from craft_jobs.states import JobState
from craft_jobs.store.models import AuditEntry, Job, JobStateEntry, RecurringJob
from craft_jobs.store.audit_store import AuditFilter, AuditStore
from craft_jobs.store.stats import DurationStats, JobSummary, PlaceInLine, ThroughputPoint

BULK_LIMIT = 500


class Overview(BaseModel):
    counts: dict[JobState, int]
    per_minute: list[ThroughputPoint]
    per_hour: list[ThroughputPoint]
    durations: list[DurationStats]


class JobDetail(BaseModel):
    job: Job
    history: list[JobStateEntry]
    continuations: list[JobSummary]
    parent: JobSummary | None = None
    audit: list[AuditEntry] = []  # who acted on it, newest first
    scheduled: list[JobSummary] = []  # the jobs it scheduled while it ran
    # Enqueued jobs only: why it waits, and behind how many.
    place_in_line: PlaceInLine | None = None


class BulkResult(BaseModel):
    action: Literal["requeue", "delete"]
    done: list[int]
    not_found: list[int]
    forbidden: list[int]
    unchanged: list[int]  # already deleted: nothing to do


async def overview(state: DashboardState, scope: Scope) -> Overview:
    stats, tenants = state.stats, scope.tenants
    return Overview(
        counts=await stats.state_counts(tenants),
        per_minute=await stats.throughput("minute", timedelta(hours=1), tenants),
        per_hour=await stats.throughput("hour", timedelta(days=1), tenants),
        durations=await stats.durations(timedelta(hours=24), tenants),
    )


async def visible_job(state: DashboardState, scope: Scope, job_id: int) -> Job:
    job = await state.store.get_job(job_id)
    if job is None:
        raise not_found(f"job {job_id}")
    scope.check_visible(job.tenant_id, f"job {job_id}")
    return job


async def job_detail(state: DashboardState, scope: Scope, job_id: int) -> JobDetail:
    job = await visible_job(state, scope, job_id)
    parent = None
    if job.parent_id is not None:
        found = await state.store.get_job(job.parent_id)
        if found is not None and scope.can_see(found.tenant_id):
            parent = JobSummary.model_validate({
                **found.model_dump(), "parameters_preview": "",
                "error_type": (found.last_error or {}).get("type"),
                "error_message": (found.last_error or {}).get("message"),
            })
    continuations = [c for c in await state.stats.continuations(job_id) if scope.can_see(c.tenant_id)]
    scheduled = [c for c in await state.stats.scheduled_by(job_id) if scope.can_see(c.tenant_id)]
    place = None
    if job.state is JobState.ENQUEUED:
        place = await state.stats.place_in_line(job.id, job.tenant_id, job.queue)
    batch = str(job.batch_id) if job.batch_id else None
    audit = await AuditStore(state.store).list(AuditFilter(tenants=scope.tenants, job_id=job_id, batch_id=batch), limit=100)
    return JobDetail(job=job, history=await state.store.job_history(job_id), continuations=continuations,
                     parent=parent, scheduled=scheduled, place_in_line=place, audit=audit)


async def act_on_job(state: DashboardState, scope: Scope, job_id: int, action: Literal["requeue", "delete"]) -> None:
    async with refusals_audited(state, AuditAction(action), TargetKind.JOB, job_id):
        job = await visible_job(state, scope, job_id)
        scope.check_operable(job.tenant_id, f"job {job_id}")
    if action == "delete" and job.state is JobState.DELETED:
        # The store would change nothing either; say so rather than claim a deletion.
        raise ApiError(409, "conflict", f"job {job_id} is already deleted", "id")
    method = state.scheduler.requeue if action == "requeue" else state.scheduler.delete
    if not await method(job_id, tenant_id=job.tenant_id, actor=scope.user):
        raise not_found(f"job {job_id}")  # it expired between the two calls


async def bulk(state: DashboardState, scope: Scope, ids: list[int], action: Literal["requeue", "delete"]) -> BulkResult:
    if not ids:
        raise ApiError(422, "invalid", "select at least one job", "ids")
    if len(ids) > BULK_LIMIT:
        raise ApiError(422, "invalid", f"at most {BULK_LIMIT} jobs at once, got {len(ids)}", "ids")
    result = BulkResult(action=action, done=[], not_found=[], forbidden=[], unchanged=[])
    for job_id in dict.fromkeys(ids):
        try:
            await act_on_job(state, scope, job_id, action)
        except ApiError as exc:
            skipped = {403: result.forbidden, 409: result.unchanged}.get(exc.status, result.not_found)
            skipped.append(job_id)
        else:
            result.done.append(job_id)
    return result


async def visible_recurring(state: DashboardState, scope: Scope, recurring_id: str,
                            tenant: str | None = None) -> RecurringJob:
    """Ids are per tenant: looked up among the caller's tenants (or in `tenant`), so
    another tenant's job of the same id neither shows nor makes the id ambiguous."""
    recurring = await state.store.get_recurring(recurring_id, tenants=scope.narrow(tenant))
    if recurring is None:
        raise not_found(f"recurring job {recurring_id!r}")
    scope.check_visible(recurring.tenant_id, f"recurring job {recurring_id!r}")
    return recurring


RecurringAction = Literal["trigger", "pause", "resume", "delete"]


async def act_on_recurring(state: DashboardState, scope: Scope, recurring_id: str, action: RecurringAction,
                           tenant: str | None = None) -> Any:
    """Runs the action; `trigger` returns the new job's id."""
    async with refusals_audited(state, AuditAction(action), TargetKind.RECURRING, recurring_id, tenant):
        recurring = await visible_recurring(state, scope, recurring_id, tenant)
        scope.check_operable(recurring.tenant_id, f"recurring job {recurring_id!r}")
    scheduler, tenant = state.scheduler, recurring.tenant_id
    if action == "trigger":
        return await scheduler.trigger_recurring(recurring_id, tenant_id=tenant, actor=scope.user)
    method = {"pause": scheduler.pause_recurring, "resume": scheduler.resume_recurring,
              "delete": scheduler.remove_recurring}[action]
    if not await method(recurring_id, tenant_id=tenant):
        raise not_found(f"recurring job {recurring_id!r}")
    return None


async def filter_tenants(state: DashboardState, scope: Scope) -> list[str]:
    """The tenants a list's filter offers: the caller's, or every tenant for one who sees all."""
    if scope.tenants is not None:
        return scope.tenants
    return await state.stats.tenants() if state.options.enable_multi_tenancy else []


async def schedule_tenant(state: DashboardState, scope: Scope, requested: str | None,
                          action: AuditAction = AuditAction.SCHEDULE) -> str | None:
    """The tenant a new job goes to: the caller's own, never one they were not granted."""
    kind = TargetKind.RECURRING if action is AuditAction.APPLY else TargetKind.JOB
    async with refusals_audited(state, action, kind, None, requested):
        return _schedule_tenant(state, scope, requested)


def _schedule_tenant(state: DashboardState, scope: Scope, requested: str | None) -> str | None:
    run = scope.principal.run
    if run is not None:  # a running job schedules in its own tenant, multi-tenancy or not
        if requested is not None and requested != run.tenant_id:
            raise ApiError(403, "forbidden", f"a run of tenant {run.tenant_id!r} may not schedule jobs in"
                           f" tenant {requested!r}", "tenant_id")
        return run.tenant_id
    if not state.options.enable_multi_tenancy:
        return requested
    if requested:
        if not scope.can_see(requested):
            raise ApiError(403, "forbidden", f"tenant {requested!r} is not granted to you", "tenant_id")
        if not scope.can_operate(requested):
            raise ApiError(403, "forbidden", f"your role in tenant {requested!r} may only view", "tenant_id")
        return requested
    mine = scope.principal.tenants_with(Role.OPERATOR)
    if mine is not None and len(mine) == 1:
        return mine[0]
    raise ApiError(422, "invalid", "is required: say which of your tenants the job belongs to", "tenant_id")
