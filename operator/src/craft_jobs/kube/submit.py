"""Mapped requests (spec.py) -> `JobScheduler` calls, for the operator and `craft-jobs apply`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from craft_jobs.resource_ref import ResourceRef

if TYPE_CHECKING:
    from craft_jobs.client.scheduler import JobScheduler
    from craft_jobs.kube.spec import JobRequest, RecurringRequest
    from craft_jobs.store.models import RecurringJob


def _job_kwargs(request: JobRequest) -> dict[str, Any]:
    return {
        "queue": request.queue, "metadata": request.metadata, "max_attempts": request.max_attempts,
        "retry": request.retry, "timeout_seconds": request.timeout_seconds, "image": request.image,
    }


async def submit_job(scheduler: JobScheduler, request: JobRequest, resource: ResourceRef, *,
                     parent_id: int | None, tenant_id: str | None, user_id: str | None) -> int:
    """Schedules the job, or its continuation of `parent_id` (the stored id of continueAfter)."""
    if parent_id is not None:
        return await scheduler.continue_with(
            parent_id, request.job_type, request.parameters, on=request.continue_on,
            tenant_id=tenant_id, user_id=user_id, resource=resource, **_job_kwargs(request),
        )
    return await scheduler.schedule(
        request.job_type, request.parameters, at=request.at, tenant_id=tenant_id, user_id=user_id,
        resource=resource, **_job_kwargs(request),
    )


def _recurring_kwargs(request: RecurringRequest) -> dict[str, Any]:
    return {
        "interval_minutes": request.interval_minutes, "time_zone": request.time_zone,
        "concurrency_policy": request.concurrency_policy,
        "starting_deadline_seconds": request.starting_deadline_seconds, "paused": request.suspend,
        **_job_kwargs(request.job),
    }


async def submit_recurring(scheduler: JobScheduler, request: RecurringRequest, recurring_id: str,
                           resource: ResourceRef, *, tenant_id: str | None, user_id: str | None) -> RecurringJob:
    """Creates or updates the recurring job."""
    return await scheduler.schedule_recurring(
        recurring_id, request.cron, request.job.job_type, request.job.parameters,
        tenant_id=tenant_id, user_id=user_id, resource=resource, **_recurring_kwargs(request),
    )


async def check_job_submission(scheduler: JobScheduler, request: JobRequest, *,
                               tenant_id: str | None, user_id: str | None) -> None:
    """Every check `submit_job` would make, storing nothing (the parent is the caller's to check)."""
    await scheduler.check_job(request.job_type, request.parameters, at=request.at, tenant_id=tenant_id,
                              user_id=user_id, **_job_kwargs(request))


async def check_recurring_submission(scheduler: JobScheduler, request: RecurringRequest, *,
                                     tenant_id: str | None, user_id: str | None) -> None:
    """The schedule, and every check its jobs will pass when fired."""
    from craft_jobs.schedules import parse_schedule

    parse_schedule(request.cron, request.interval_minutes, request.time_zone, anchor=scheduler.store.clock.now())
    await check_job_submission(scheduler, request.job, tenant_id=tenant_id, user_id=user_id)
