"""Typed rows: what the store hands to the engine, the SDK and the dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from craft_jobs.audit import AuditAction, AuditOutcome, Caller, Surface, TargetKind
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition, JobState


@dataclass(slots=True)
class NewJob:
    """A job about to be stored; every surface (SDK, API, CR, recurring fire) builds one."""

    job_type: str
    # None when `parameters_json` holds them (the SDK's jobs without client filters).
    parameters: dict[str, Any] | None
    state: JobState
    scheduled_for: datetime
    max_attempts: int
    queue: str = "default"
    run_at: datetime | None = None
    tenant_id: str = ""
    user_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    retry_policy: dict[str, Any] | None = None
    timeout_seconds: int | None = None
    image: str | None = None
    recurring_id: str | None = None
    parent_id: int | None = None
    continuation_on: ContinuationCondition | None = None
    cr_uid: str | None = None
    cr_namespace: str | None = None
    cr_name: str | None = None
    scheduled_by_job_id: int | None = None  # the running job that scheduled it
    reason: str = "created"
    # Who scheduled it, for the audit trail; None: not a user's action (a recurring fire).
    audit: Caller | None = None
    # The parameters as JSON text, when the caller made that text (the SDK, which
    # checks its size): stored as is, not dumped again. Cleared when a client
    # filter, which sees `parameters`, may have changed them.
    parameters_json: str | None = None

    def parameters_dict(self) -> dict[str, Any]:
        """`parameters`, parsed from `parameters_json` the first time it is asked for."""
        if self.parameters is None:
            self.parameters = json.loads(self.parameters_json)
        return self.parameters


@dataclass(slots=True)
class BatchItem:
    """One job of a batch: what may differ between the jobs of one batch."""

    job_type: str
    parameters_json: str
    max_attempts: int
    timeout_seconds: int | None = None


@dataclass(slots=True)
class ClaimedJob:
    """A job this server now holds in Processing; handed to an executor."""

    id: int
    job_type: str
    queue: str
    parameters: dict[str, Any]
    tenant_id: str
    user_id: str | None
    metadata: dict[str, Any]
    attempt: int
    runs: int
    max_attempts: int
    retry_policy: dict[str, Any] | None
    timeout_seconds: int | None
    image: str | None
    scheduled_for: datetime
    created_at: datetime
    started_at: datetime
    recurring_id: str | None
    cr_namespace: str | None
    cr_name: str | None
    cr_uid: str | None
    # Set by the dispatcher when runs may schedule jobs (job_api_url): the
    # API's address and this run's credential (job_tokens.py).
    scheduler_access: SchedulerAccess | None = None


@dataclass(frozen=True, slots=True)
class SchedulerAccess:
    """Where a run reaches the REST API to schedule jobs, and its credential."""

    api_url: str
    token: str


@dataclass(slots=True)
class Outcome:
    """What the engine decided after a run: the next state and why.

    `run` is the claim it belongs to (ClaimedJob.runs): it is recorded only
    while the job is still in that run, never onto a later claim of the job."""

    job_id: int
    run: int
    state: JobState
    attempt: int
    reason: str
    run_at: datetime | None = None
    error: dict[str, Any] | None = None


class Job(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_type: str
    queue: str
    state: JobState
    parameters: dict[str, Any]
    tenant_id: str
    user_id: str | None
    metadata: dict[str, Any]
    attempt: int
    runs: int
    max_attempts: int
    retry_policy: dict[str, Any] | None
    timeout_seconds: int | None
    image: str | None
    run_at: datetime | None
    scheduled_for: datetime
    created_at: datetime
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    state_changed_at: datetime
    expires_at: datetime | None
    server_id: str | None
    executor_ref: str | None
    recurring_id: str | None
    parent_id: int | None
    continuation_on: ContinuationCondition | None
    batch_id: Any | None
    cr_uid: str | None
    cr_namespace: str | None
    cr_name: str | None
    scheduled_by_job_id: int | None = None
    last_error: dict[str, Any] | None


class JobStateEntry(BaseModel):
    id: int
    job_id: int
    state: JobState
    reason: str | None
    data: dict[str, Any] | None
    server_id: str | None
    created_at: datetime


class RecurringJob(BaseModel):
    id: str
    job_type: str
    queue: str
    parameters: dict[str, Any]
    tenant_id: str
    user_id: str | None
    metadata: dict[str, Any]
    max_attempts: int
    retry_policy: dict[str, Any] | None
    timeout_seconds: int | None
    image: str | None
    cron: str | None
    interval_minutes: int | None
    time_zone: str
    concurrency_policy: ConcurrencyPolicy
    starting_deadline_seconds: int | None
    paused: bool
    anchor_at: datetime
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_job_id: int | None
    schedule_error: str | None
    created_at: datetime
    updated_at: datetime
    cr_uid: str | None
    cr_namespace: str | None
    cr_name: str | None
    last_job_state: JobState | None = None


class Server(BaseModel):
    id: str
    kind: str
    hostname: str
    pid: int
    worker_count: int
    queues: list[str] | None
    in_flight: int
    started_at: datetime
    heartbeat_at: datetime


class JobType(BaseModel):
    name: str
    parameters_schema: dict[str, Any]
    max_attempts: int | None
    timeout_seconds: int | None
    updated_at: datetime


class AuditEntry(BaseModel):
    """One row of the audit trail: who did what, from where, to what, and how it ended."""

    id: int
    at: datetime
    action: AuditAction
    surface: Surface
    actor: str | None
    tenant_id: str
    target_kind: TargetKind
    target_id: str | None
    job_id: int | None
    outcome: AuditOutcome
    detail: str | None
