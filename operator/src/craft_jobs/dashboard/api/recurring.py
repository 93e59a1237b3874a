"""/api/recurring: list, read, create or update, trigger, pause, resume, remove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from craft_jobs.dashboard import limits_api, service
from craft_jobs.dashboard.api.envelope import Page
from craft_jobs.dashboard.deps import Operator, State, Viewer
from craft_jobs.states import ConcurrencyPolicy
from craft_jobs.store.models import RecurringJob
from craft_jobs.store.stats import JobSummary

# Ids from YAML are `<namespace>/<name>`, so the id is a path (raw or %2F-encoded);
# each action is a fixed last segment, matched before the id swallows it.
router = APIRouter(prefix="/api", tags=["recurring"])


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
async def get_recurring(state: State, scope: Viewer, recurring_id: str) -> RecurringDetail:
    recurring = await service.visible_recurring(state, scope, recurring_id)
    return RecurringDetail(recurring=recurring, recent_runs=await state.stats.recurring_runs(recurring_id))


@router.put("/recurring/{recurring_id:path}", response_model=RecurringJob, summary="Create or update a recurring job")
async def put_recurring(state: State, scope: Operator, recurring_id: str, body: RecurringIn) -> RecurringJob:
    existing = await state.store.get_recurring(recurring_id)
    if existing is not None:
        # Updating someone else's schedule is refused without saying whose it is.
        scope.check_operable(existing.tenant_id, f"recurring job {recurring_id!r}")
    tenant = body.tenant_id or (existing.tenant_id if existing and state.options.enable_multi_tenancy else None)
    return await state.scheduler.schedule_recurring(
        recurring_id, body.cron, body.job_type, body.parameters, interval_minutes=body.interval_minutes,
        time_zone=body.time_zone, concurrency_policy=body.concurrency_policy,
        starting_deadline_seconds=body.starting_deadline_seconds, paused=body.paused, queue=body.queue,
        tenant_id=service.schedule_tenant(state, scope, tenant), user_id=scope.user, metadata=body.metadata,
        max_attempts=body.max_attempts, timeout_seconds=body.timeout_seconds, image=body.image,
    )


@router.post("/recurring/{recurring_id:path}/trigger", response_model=Triggered, status_code=201,
             summary="Run now, outside the schedule")
async def trigger(state: State, scope: Operator, recurring_id: str) -> Triggered:
    job_id = await service.act_on_recurring(state, scope, recurring_id, "trigger")
    return Triggered(id=recurring_id, job_id=job_id)


@router.post("/recurring/{recurring_id:path}/pause", response_model=Done, summary="Stop firing until resumed")
async def pause(state: State, scope: Operator, recurring_id: str) -> Done:
    await service.act_on_recurring(state, scope, recurring_id, "pause")
    return Done(id=recurring_id, action="pause")


@router.post("/recurring/{recurring_id:path}/resume", response_model=Done, summary="Fire again from the next slot")
async def resume(state: State, scope: Operator, recurring_id: str) -> Done:
    await service.act_on_recurring(state, scope, recurring_id, "resume")
    return Done(id=recurring_id, action="resume")


@router.delete("/recurring/{recurring_id:path}", response_model=Done, summary="Remove the schedule (fired jobs stay)")
async def remove(state: State, scope: Operator, recurring_id: str) -> Done:
    await service.act_on_recurring(state, scope, recurring_id, "delete")
    return Done(id=recurring_id, action="delete")
