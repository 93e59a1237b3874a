"""/api/recurring: list, read, create or update, trigger, pause, resume, remove."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from craft_jobs.audit import AuditAction
from craft_jobs.dashboard import limits_api, service
from craft_jobs.dashboard.api.envelope import Page
from craft_jobs.dashboard.auth import Role
from craft_jobs.dashboard.deps import Operator, State, Viewer
from craft_jobs.states import ConcurrencyPolicy
from craft_jobs.store.models import RecurringJob
from craft_jobs.store.stats import JobSummary

# Ids from YAML are `<namespace>/<name>`, so the id is a path (raw or %2F-encoded);
# each action is a fixed last segment, matched before the id swallows it.
# Ids are per tenant: `?tenant=` picks one when the caller sees several with the id.
router = APIRouter(prefix="/api", tags=["recurring"])
Tenant = Annotated[str | None, Query(description="The tenant whose recurring job this id names (ids are per tenant)")]


class RecurringIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_type: str = Field(min_length=1, max_length=200)
    parameters: dict[str, Any] = limits_api.PARAMETERS
    cron: str | None = Field(None, description="Five-field cron, or give interval_minutes")
    interval_minutes: int | None = Field(None, ge=1, le=525600)
    time_zone: str = "UTC"
    concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW
    starting_deadline_seconds: int | None = Field(None, ge=0)
    paused: bool = False
    queue: str | None = Field(None, min_length=1, max_length=100)
    tenant_id: str | None = None
    metadata: dict[str, Any] | None = limits_api.METADATA
    max_attempts: int | None = Field(None, ge=0, le=10)
    timeout_seconds: int | None = limits_api.TIMEOUT
    image: str | None = None


class RecurringDetail(BaseModel):
    recurring: RecurringJob
    recent_runs: list[JobSummary]


class Triggered(BaseModel):
    id: str
    job_id: int


class Done(BaseModel):
    id: str
    action: str


@router.get("/recurring", response_model=Page[RecurringJob], summary="Recurring jobs with their last run's outcome")
async def list_recurring(state: State, scope: Viewer) -> Page[RecurringJob]:
    return Page(items=await state.stats.list_recurring(scope.tenants))


@router.get("/recurring/{recurring_id:path}", response_model=RecurringDetail, summary="A recurring job and its recent runs")
async def get_recurring(state: State, scope: Viewer, recurring_id: str, tenant: Tenant = None) -> RecurringDetail:
    recurring = await service.visible_recurring(state, scope, recurring_id, tenant)
    runs = await state.stats.recurring_runs(recurring_id, recurring.tenant_id)
    return RecurringDetail(recurring=recurring, recent_runs=runs)


@router.put("/recurring/{recurring_id:path}", response_model=RecurringJob, summary="Create or update a recurring job")
async def put_recurring(state: State, scope: Operator, recurring_id: str, body: RecurringIn) -> RecurringJob:
    tenant = body.tenant_id
    if tenant is None and state.options.enable_multi_tenancy:
        # An update without a tenant: the caller's own job of that id, if any.
        existing = await state.store.get_recurring(recurring_id, tenants=scope.principal.tenants_with(Role.OPERATOR))
        tenant = existing.tenant_id if existing else None
    return await state.scheduler.schedule_recurring(
        recurring_id, body.cron, body.job_type, body.parameters, interval_minutes=body.interval_minutes,
        time_zone=body.time_zone, concurrency_policy=body.concurrency_policy,
        starting_deadline_seconds=body.starting_deadline_seconds, paused=body.paused, queue=body.queue,
        tenant_id=await service.schedule_tenant(state, scope, tenant, AuditAction.APPLY), user_id=scope.user, metadata=body.metadata,
        max_attempts=body.max_attempts, timeout_seconds=body.timeout_seconds, image=body.image,
    )


@router.post("/recurring/{recurring_id:path}/trigger", response_model=Triggered, status_code=201,
             summary="Run now, outside the schedule")
async def trigger(state: State, scope: Operator, recurring_id: str, tenant: Tenant = None) -> Triggered:
    job_id = await service.act_on_recurring(state, scope, recurring_id, "trigger", tenant)
    return Triggered(id=recurring_id, job_id=job_id)


@router.post("/recurring/{recurring_id:path}/pause", response_model=Done, summary="Stop firing until resumed")
async def pause(state: State, scope: Operator, recurring_id: str, tenant: Tenant = None) -> Done:
    await service.act_on_recurring(state, scope, recurring_id, "pause", tenant)
    return Done(id=recurring_id, action="pause")


@router.post("/recurring/{recurring_id:path}/resume", response_model=Done, summary="Fire again from the next slot")
async def resume(state: State, scope: Operator, recurring_id: str, tenant: Tenant = None) -> Done:
    await service.act_on_recurring(state, scope, recurring_id, "resume", tenant)
    return Done(id=recurring_id, action="resume")


@router.delete("/recurring/{recurring_id:path}", response_model=Done, summary="Remove the schedule (fired jobs stay)")
async def remove(state: State, scope: Operator, recurring_id: str, tenant: Tenant = None) -> Done:
    await service.act_on_recurring(state, scope, recurring_id, "delete", tenant)
    return Done(id=recurring_id, action="delete")
