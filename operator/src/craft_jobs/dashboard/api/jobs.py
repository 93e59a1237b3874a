"""/api/jobs: list, read, schedule, continue, requeue, delete (one and in bulk)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from craft_jobs.dashboard import limits_api, service
from craft_jobs.dashboard.api.envelope import JobList, Page
from craft_jobs.dashboard.deps import Operator, State, Viewer
from craft_jobs.errors import ValidationError
from craft_jobs.states import ContinuationCondition, JobState
from craft_jobs.store.models import JobType
from craft_jobs.store.stats import JobFilter

router = APIRouter(prefix="/api", tags=["jobs"])


class JobOptionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str | None = Field(None, min_length=1, max_length=100)
    tenant_id: str | None = Field(None, description="With multi-tenancy: one of your tenants")
    metadata: dict[str, Any] | None = limits_api.METADATA
    max_attempts: int | None = Field(None, ge=0, le=10)
    timeout_seconds: int | None = limits_api.TIMEOUT
    image: str | None = None


class ScheduleIn(JobOptionsIn):
    job_type: str = Field(min_length=1, max_length=200)
    parameters: dict[str, Any] = limits_api.PARAMETERS
    delay_seconds: float | None = limits_api.DELAY
    at: datetime | None = Field(None, description="Run at this moment (with a time zone)")


class ContinueIn(JobOptionsIn):
    job_type: str = Field(min_length=1, max_length=200)
    parameters: dict[str, Any] = limits_api.PARAMETERS
    on: ContinuationCondition = ContinuationCondition.SUCCEEDED


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_type: str = Field(min_length=1, max_length=200)
    parameters: dict[str, Any] = limits_api.PARAMETERS


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: list[BatchItem] = Field(min_length=1, max_length=1000)
    queue: str | None = Field(None, min_length=1, max_length=100)
    tenant_id: str | None = None
    metadata: dict[str, Any] | None = limits_api.METADATA


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["requeue", "delete"]
    ids: list[limits_api.JobIdItem] = Field(max_length=service.BULK_LIMIT)


class Created(BaseModel):
    id: int


class CreatedMany(BaseModel):
    ids: list[int]


class Done(BaseModel):
    id: int
    action: str


@router.get("/jobs", response_model=JobList, summary="List jobs, newest first (keyset pagination)")
async def list_jobs(
    state: State,
    scope: Viewer,
    job_state: Annotated[JobState | None, Query(alias="state")] = None,
    tenant: str | None = None,
    job_type: str | None = None,
    queue: str | None = None,
    search: Annotated[str | None, Query(max_length=200, description="Text in parameters or errors")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=limits_api.BIGINT_MAX, description="next_before_id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobList:
    where = JobFilter(state=job_state, tenants=scope.narrow(tenant), job_type=job_type or None,
                      queue=queue or None, search=search or None)
    return JobList.of(await state.stats.list_jobs(where, before_id=before_id, limit=limit))


@router.get("/jobs/{job_id}", response_model=service.JobDetail, summary="A job with its history and continuations")
async def get_job(state: State, scope: Viewer, job_id: limits_api.JobId) -> service.JobDetail:
    return await service.job_detail(state, scope, job_id)


@router.post("/jobs", response_model=Created, status_code=201, summary="Schedule a job (now, delayed or at a time)")
async def schedule(state: State, scope: Operator, body: ScheduleIn, response: Response) -> Created:
    if body.delay_seconds is not None and body.at is not None:
        raise ValidationError("at", "give either delay_seconds or at, not both")
    if body.at is not None and body.at.tzinfo is None:
        raise ValidationError("at", "needs a time zone, e.g. 2026-03-01T12:00:00Z")
    job_id = await state.scheduler.schedule(
        body.job_type, body.parameters,
        delay=timedelta(seconds=body.delay_seconds) if body.delay_seconds is not None else None,
        at=body.at, queue=body.queue, tenant_id=await service.schedule_tenant(state, scope, body.tenant_id),
        user_id=scope.user, metadata=body.metadata, max_attempts=body.max_attempts,
        timeout_seconds=body.timeout_seconds, image=body.image, scheduled_by_job_id=scope.scheduling_job,
    )
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return Created(id=job_id)


@router.post("/jobs/batch", response_model=CreatedMany, status_code=201, summary="Schedule many jobs atomically")
async def schedule_batch(state: State, scope: Operator, body: BatchIn) -> CreatedMany:
    ids = await state.scheduler.schedule_batch(
        [(item.job_type, item.parameters) for item in body.jobs], queue=body.queue,
        tenant_id=await service.schedule_tenant(state, scope, body.tenant_id), user_id=scope.user, metadata=body.metadata,
        scheduled_by_job_id=scope.scheduling_job,
    )
    return CreatedMany(ids=ids)


@router.post("/jobs/{job_id}/continuations", response_model=Created, status_code=201,
             summary="Schedule a continuation that waits for this job")
async def continue_with(state: State, scope: Operator, job_id: limits_api.JobId, body: ContinueIn) -> Created:
    parent = await service.visible_job(state, scope, job_id)
    tenant = body.tenant_id or (parent.tenant_id if state.options.enable_multi_tenancy else None)
    child = await state.scheduler.continue_with(
        job_id, body.job_type, body.parameters, on=body.on, queue=body.queue,
        tenant_id=await service.schedule_tenant(state, scope, tenant), user_id=scope.user, metadata=body.metadata,
        max_attempts=body.max_attempts, timeout_seconds=body.timeout_seconds, image=body.image,
        scheduled_by_job_id=scope.scheduling_job,
    )
    return Created(id=child)


@router.post("/jobs/{job_id}/requeue", response_model=Done, summary="Enqueue again, from any state")
async def requeue(state: State, scope: Operator, job_id: limits_api.JobId) -> Done:
    await service.act_on_job(state, scope, job_id, "requeue")
    return Done(id=job_id, action="requeue")


@router.post("/jobs/{job_id}/delete", response_model=Done, summary="Delete (a running job is stopped)")
async def delete(state: State, scope: Operator, job_id: limits_api.JobId) -> Done:
    await service.act_on_job(state, scope, job_id, "delete")
    return Done(id=job_id, action="delete")


@router.delete("/jobs/{job_id}", response_model=Done, summary="Delete (the same as POST .../delete)")
async def delete_verb(state: State, scope: Operator, job_id: limits_api.JobId) -> Done:
    return await delete(state, scope, job_id)


@router.post("/jobs/bulk", response_model=service.BulkResult, summary="Requeue or delete many jobs")
async def bulk(state: State, scope: Operator, body: BulkIn) -> service.BulkResult:
    return await service.bulk(state, scope, body.ids, body.action)


@router.get("/job-types", response_model=Page[JobType], summary="Job types registered by workers, with their schemas")
async def job_types(state: State, scope: Viewer) -> Page[JobType]:
    return Page(items=await state.store.list_job_types())
