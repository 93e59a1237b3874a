"""JobScheduler: the seed's IJobScheduler, over the store.

Every method validates before it stores anything, so a refused call leaves no
trace; errors name the field at fault.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from craft_jobs_runner import Job

from craft_jobs.audit import AuditAction, AuditOutcome, Caller, TargetKind, current_caller
from craft_jobs.backoff import RetryPolicy, checked_max_attempts
from craft_jobs.client.context import current_context
from craft_jobs.client.filters import ClientFilter, installation_filters
from craft_jobs.client.jobtypes import JobKind, checked_job_type, resolve_kind
from craft_jobs.clock import Clock
from craft_jobs.engine.engine import connect_store
from craft_jobs.engine.recurring import job_for_fire
from craft_jobs.errors import JobNotFoundError, RecurringJobNotFoundError, ValidationError
from craft_jobs.limits import check_delay, check_metadata, check_text, check_timeout
from craft_jobs.options import JobOptions
from craft_jobs.resource_ref import ResourceRef
from craft_jobs.schedules import parse_schedule
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition, JobState
from craft_jobs.store.connector import Session
from craft_jobs.store.models import Job as StoredJob
from craft_jobs.store.models import BatchItem, NewJob, RecurringJob
from craft_jobs.store.audit_store import AuditStore
from craft_jobs.store.store import JobStore

JobRef = type[Job] | str
QUEUE_MAX_LENGTH = 100
# What a caller may give a job besides its type and parameters (None: the default).
_NO_JOB_OPTIONS = dict.fromkeys(("queue", "tenant_id", "user_id", "metadata", "max_attempts", "retry", "timeout_seconds", "image"))
ID_MAX_LENGTH = 253


class JobScheduler:
    def __init__(self, store: JobStore, options: JobOptions, filters: Sequence[ClientFilter] = ()):
        self.store = store
        self.options = options
        self.filters = [*installation_filters(options.client_filters), *filters]
        self.audit = AuditStore(store)

    @classmethod
    async def connect(
        cls, options: JobOptions, clock: Clock | None = None, *, startup_timeout: float = 10, **kwargs: Any
    ) -> JobScheduler:
        from craft_jobs.clock import SystemClock

        store = await connect_store(options, clock or SystemClock(), startup_timeout=startup_timeout, pool_size=5)
        return cls(store, options, **kwargs)

    async def close(self) -> None:
        await self.store.close()

    # -- building jobs -----------------------------------------------------------

    def _caller(self, tenant_id: str | None, user_id: str | None, metadata: dict[str, Any] | None):
        if metadata is not None and not isinstance(metadata, dict):
            raise ValidationError("metadata", f"must be a mapping, got {type(metadata).__name__}")
        context = current_context()
        tenant = check_text(tenant_id if tenant_id is not None else context.tenant_id, "tenant_id")
        user = check_text(user_id if user_id is not None else context.user_id, "user_id")
        if self.options.enable_multi_tenancy and not tenant:
            raise ValidationError("tenant_id", "is required when multi-tenancy is enabled")
        merged = {**context.metadata, **metadata} if metadata else dict(context.metadata)
        return tenant or "", user, check_metadata(merged) if merged else merged

    async def _new_job(
        self,
        job: JobRef,
        params: Any,
        *,
        state: JobState,
        scheduled_for: datetime,
        run_at: datetime | None = None,
        queue: str | None,
        tenant_id: str | None,
        user_id: str | None,
        metadata: dict[str, Any] | None,
        max_attempts: int | None,
        retry: RetryPolicy | None,
        timeout_seconds: int | None,
        image: str | None,
        reason: str,
        **extra: Any,
    ) -> NewJob:
        kind = await resolve_kind(self.store, job, self.options)
        parameters_json = kind.parameters_json(params)
        tenant, user, merged = self._caller(tenant_id, user_id, metadata)
        attempts, retry_policy, timeout = self._settings(kind, max_attempts, retry, timeout_seconds)
        return NewJob(
            job_type=kind.job_type,
            parameters=None,  # parsed only if asked for (parameters_dict)
            parameters_json=parameters_json,
            state=state,
            scheduled_for=scheduled_for,
            run_at=run_at,
            max_attempts=attempts,
            queue=_queue(queue),
            tenant_id=tenant,
            user_id=user,
            metadata=merged,
            retry_policy=retry_policy,
            timeout_seconds=timeout,
            image=check_text(image, "image"),
            reason=reason,
            audit=current_caller(),
            **extra,
        )

    def _settings(self, kind: JobKind, max_attempts: int | None, retry: RetryPolicy | None,
                  timeout_seconds: int | None) -> tuple[int, dict[str, Any] | None, int | None]:
        """The job's max_attempts, retry policy record and timeout. When the caller
        gives none of them, the policy and timeout follow from the kind and the
        options alone: worked out once and kept on the kind (every enqueue asks).
        The record is made afresh for each job, for client filters to change."""
        if max_attempts is not None or retry is not None or timeout_seconds is not None:
            policy, timeout = self._retry_policy(kind, max_attempts, retry), self._timeout(kind, timeout_seconds)
        else:
            key = (self.options.max_retry_attempts, self.options.enable_automatic_retry)
            settings = kind.settings.get(key)
            if settings is None:
                settings = kind.settings[key] = (self._retry_policy(kind, None, None), self._timeout(kind, None))
            policy, timeout = settings
        return policy.max_attempts, policy.record(), timeout

    def _retry_policy(self, kind: JobKind, max_attempts: int | None, retry: RetryPolicy | None) -> RetryPolicy:
        """The one policy the job carries: a caller's policy replaces the job class's
        whole; `max_attempts` given on its own overrides both."""
        policy = retry or kind.retry
        return policy.with_max_attempts(self._attempts(kind, max_attempts, retry))

    def _attempts(self, kind: JobKind, max_attempts: int | None, retry: RetryPolicy | None) -> int:
        attempts = _first_set(max_attempts, retry.max_attempts if retry else None, kind.max_attempts)
        if attempts is None:
            attempts = self.options.max_retry_attempts
        checked_max_attempts(attempts)
        # Applied here, not when a run fails, so that the stored row says what will happen.
        return attempts if self.options.enable_automatic_retry else 0

    @staticmethod
    def _timeout(kind: JobKind, timeout_seconds: int | None) -> int | None:
        return check_timeout(_first_set(timeout_seconds, kind.timeout_seconds))

    async def _store(self, new_job: NewJob, connection: Any) -> int:
        if self.filters:
            new_job.parameters_dict()  # what the filters see, and may change
            new_job.parameters_json = None
            for client_filter in self.filters:
                client_filter.on_creating(new_job)
            _check_filtered(new_job)
        job_id = await _on_connection(
            connection,
            lambda session: self.store.insert_job(new_job, session),
            lambda sync: self.store.insert_job_sync(new_job, sync),
        )
        if job_id is None:
            existing = await self.store.get_job_by_cr_uid(new_job.cr_uid)
            job_id = existing.id
        for client_filter in self.filters:
            client_filter.on_created(new_job, job_id)
        return job_id

    def _timing(self, delay: timedelta | None, at: datetime | None) -> tuple[JobState, datetime, datetime | None]:
        now = self.store.clock.now()
        if delay is not None and at is not None:
            raise ValidationError("at", "give either delay or at, not both")
        if delay is not None:
            if not isinstance(delay, timedelta) or delay < timedelta(0):
                raise ValidationError("delay", f"must be a timedelta of zero or more, got {delay!r}")
            at = now + check_delay(delay)
        if at is not None:
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise ValidationError("at", "must be a timezone-aware datetime")
            if at > now:
                return JobState.SCHEDULED, at, at
        return JobState.ENQUEUED, at or now, None

    # -- scheduling ----------------------------------------------------------------

    async def schedule(
        self,
        job: JobRef,
        params: Any = None,
        *,
        delay: timedelta | None = None,
        at: datetime | None = None,
        queue: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: int | None = None,
        image: str | None = None,
        connection: Any = None,
        resource: ResourceRef | None = None,
        scheduled_by_job_id: int | None = None,
    ) -> int:
        """Fire-and-forget, or delayed by `delay`, or at `at`; returns the job id.

        `connection`: a psycopg connection whose open transaction the job joins.
        `resource`: the BackgroundJob it comes from. `scheduled_by_job_id`: the
        running job that asks (the REST API sets it for a run's credential).
        """
        new_job = await self._timed_job(
            job, params, delay=delay, at=at, queue=queue, tenant_id=tenant_id, user_id=user_id, metadata=metadata,
            max_attempts=max_attempts, retry=retry, timeout_seconds=timeout_seconds, image=image,
            scheduled_by_job_id=scheduled_by_job_id, **ResourceRef.columns(resource),
        )
        return await self._store(new_job, connection)

    async def check_job(self, job: JobRef, params: Any = None, *, delay: timedelta | None = None,
                        at: datetime | None = None, **options: Any) -> None:
        """Makes every check `schedule` makes (same keywords) and stores nothing:
        `craft-jobs apply` checks a whole file before it applies any of it."""
        await self._timed_job(job, params, delay=delay, at=at, **{**_NO_JOB_OPTIONS, **options})

    async def _timed_job(self, job: JobRef, params: Any, *, delay: timedelta | None, at: datetime | None,
                         **fields: Any) -> NewJob:
        """`fields`: every one of _NO_JOB_OPTIONS, and what else NewJob takes."""
        state, scheduled_for, run_at = self._timing(delay, at)
        return await self._new_job(
            job, params, state=state, scheduled_for=scheduled_for, run_at=run_at,
            reason="created" if state is JobState.ENQUEUED else f"delayed until {scheduled_for.isoformat()}", **fields,
        )

    async def schedule_batch(
        self,
        items: Sequence[tuple[JobRef, Any]],
        *,
        queue: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        max_attempts: int | None = None,
        connection: Any = None,
        scheduled_by_job_id: int | None = None,
    ) -> list[int]:
        """Many fire-and-forget jobs at once, atomically: all are stored or none.

        Each job's parameters are checked; the rest (queue, tenant, user,
        metadata) is shared by the batch, so client filters may refuse a job
        but must not give jobs of one batch different shared values."""
        tenant, user, merged = self._caller(tenant_id, user_id, metadata)
        kinds: dict[Any, tuple[JobKind, int, int | None]] = {}
        batch: list[BatchItem] = []
        for job, params in items:
            if job not in kinds:
                kind = await resolve_kind(self.store, job, self.options)
                kinds[job] = (kind, self._attempts(kind, max_attempts, None), self._timeout(kind, None))
            kind, attempts, timeout = kinds[job]
            batch.append(BatchItem(kind.job_type, kind.parameters_json(params), attempts, timeout))
        shared = NewJob(
            job_type="", parameters={}, state=JobState.ENQUEUED, scheduled_for=self.store.clock.now(),
            max_attempts=0, queue=_queue(queue), tenant_id=tenant, user_id=user, metadata=merged,
            scheduled_by_job_id=scheduled_by_job_id, reason="created in a batch", audit=current_caller(),
        )
        new_jobs = self._filter_batch(shared, batch)
        batch_id = uuid.uuid4()
        ids = await _on_connection(
            connection,
            lambda session: self.store.insert_batch(shared, batch, batch_id, session),
            lambda sync: self.store.insert_batch_sync(shared, batch, batch_id, sync),
        )
        for new_job, job_id in zip(new_jobs, ids):
            for client_filter in self.filters:
                client_filter.on_created(new_job, job_id)
        return ids

    def _filter_batch(self, shared: NewJob, batch: list[BatchItem]) -> list[NewJob]:
        """Runs on_creating for each job of a batch (only when there are filters);
        what a filter changes is stored, as for one job."""
        if not self.filters:
            return []
        new_jobs = []
        for item in batch:
            new_job = dataclasses.replace(
                shared, job_type=item.job_type, parameters=json.loads(item.parameters_json),
                max_attempts=item.max_attempts, timeout_seconds=item.timeout_seconds, metadata=dict(shared.metadata),
            )
            for client_filter in self.filters:
                client_filter.on_creating(new_job)
            _check_filtered(new_job)
            item.job_type, item.max_attempts, item.timeout_seconds = new_job.job_type, new_job.max_attempts, new_job.timeout_seconds
            item.parameters_json = json.dumps(new_job.parameters, separators=(",", ":"))
            new_jobs.append(new_job)
        shared_fields = {(j.queue, j.tenant_id, j.user_id, json.dumps(j.metadata, sort_keys=True)) for j in new_jobs}
        if len(shared_fields) > 1:
            raise ValidationError("filters", "gave the jobs of one batch different queue, tenant, user or metadata")
        first = new_jobs[0]
        shared.queue, shared.tenant_id, shared.user_id, shared.metadata = first.queue, first.tenant_id, first.user_id, first.metadata
        return new_jobs

    async def continue_with(
        self,
        parent_id: int,
        job: JobRef,
        params: Any = None,
        *,
        on: ContinuationCondition = ContinuationCondition.SUCCEEDED,
        queue: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: int | None = None,
        image: str | None = None,
        connection: Any = None,
        resource: ResourceRef | None = None,
        scheduled_by_job_id: int | None = None,
    ) -> int:
        """A job that waits (Awaiting) until `parent_id` meets `on`.

        It inherits its parent's tenant, user and metadata unless given."""
        on = ContinuationCondition(on)
        scope = self._scope(tenant_id)
        if self.options.enable_multi_tenancy and not scope:
            raise ValidationError("tenant_id", "is required when multi-tenancy is enabled")
        parent = await self.store.get_job(parent_id, scope)
        if parent is None:
            raise ValidationError("parent_id", f"job {parent_id} does not exist")
        new_job = await self._new_job(
            job, params, state=JobState.AWAITING, scheduled_for=self.store.clock.now(), queue=queue,
            tenant_id=_first_set(tenant_id, parent.tenant_id), user_id=_first_set(user_id, parent.user_id),
            metadata={**parent.metadata, **(metadata or {})}, max_attempts=max_attempts,
            retry=retry, timeout_seconds=timeout_seconds, image=image,
            reason=f"waits for job {parent_id} to be {on.value}",
            parent_id=parent_id, continuation_on=on, scheduled_by_job_id=scheduled_by_job_id,
            **ResourceRef.columns(resource),
        )
        return await self._store(new_job, connection)

    # -- managing jobs -----------------------------------------------------------------

    def _scope(self, tenant_id: str | None) -> str | None:
        tenant = tenant_id if tenant_id is not None else current_context().tenant_id
        return tenant if self.options.enable_multi_tenancy else tenant_id

    async def delete(self, job_id: int, *, tenant_id: str | None = None, actor: str | None = None, reason: str | None = None) -> bool:
        """Deletes from any state (a running job is stopped); False when no such job."""
        caller = self._acting(actor)
        previous = await self.store.change_state(
            job_id, JobState.DELETED, reason=reason or "deleted", actor=caller.actor, tenant_id=self._scope(tenant_id),
        )
        await self._audit_job(caller, AuditAction.DELETE, job_id, previous is not None, detail=reason)
        return previous is not None

    async def requeue(self, job_id: int, *, tenant_id: str | None = None, actor: str | None = None,
                      session: Session | None = None) -> bool:
        """Enqueues again from any state, with a fresh set of retries; False when no such job.
        `session`: inside that transaction (the operator's, which records why it acted)."""
        caller = self._acting(actor)
        previous = await self.store.change_state(
            job_id, JobState.ENQUEUED, reason="requeued", actor=caller.actor,
            tenant_id=self._scope(tenant_id), reset_attempts=True, session=session,
        )
        await self._audit_job(caller, AuditAction.REQUEUE, job_id, previous is not None, session=session)
        return previous is not None

    def _acting(self, actor: str | None, fallback: str | None = None) -> Caller:
        """The caller of this action: its surface, and the first actor named (an
        explicit `actor`, the surface's caller, `fallback`, the job context's user)."""
        caller = current_caller()
        return Caller(caller.surface, actor or caller.actor or fallback or current_context().user_id)

    async def _audit_job(self, caller: Caller, action: AuditAction, job_id: int, found: bool, *,
                         detail: str | None = None, session: Session | None = None) -> None:
        await self.audit.record(caller, action, TargetKind.JOB, job_id, detail=detail, session=session,
                                outcome=AuditOutcome.OK if found else AuditOutcome.NOT_FOUND)

    async def _audit_recurring(self, action: AuditAction, recurring_id: str, recurring: RecurringJob | None, *,
                               actor: str | None = None, fallback: str | None = None,
                               session: Session | None = None) -> None:
        await self.audit.record(
            self._acting(actor, fallback), action, TargetKind.RECURRING, recurring_id, session=session,
            tenant_id=recurring.tenant_id if recurring else self._scope(None),
            outcome=AuditOutcome.OK if recurring else AuditOutcome.NOT_FOUND)

    async def get_job(self, job_id: int, *, tenant_id: str | None = None) -> StoredJob:
        job = await self.store.get_job(job_id, self._scope(tenant_id))
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    # -- recurring jobs ------------------------------------------------------------------

    async def schedule_recurring(
        self,
        recurring_id: str,
        cron: str | None = None,
        job: JobRef | None = None,
        params: Any = None,
        *,
        interval_minutes: int | None = None,
        time_zone: str = "UTC",
        concurrency_policy: ConcurrencyPolicy = ConcurrencyPolicy.ALLOW,
        starting_deadline_seconds: int | None = None,
        paused: bool = False,
        queue: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: int | None = None,
        image: str | None = None,
        resource: ResourceRef | None = None,
    ) -> RecurringJob:
        """Creates or updates a recurring job (cron or every N minutes)."""
        if not isinstance(recurring_id, str) or not 1 <= len(recurring_id) <= ID_MAX_LENGTH:
            raise ValidationError("recurring_id", f"must be 1 to {ID_MAX_LENGTH} characters")
        check_text(recurring_id, "recurring_id")
        check_text(cron, "cron")
        check_text(time_zone, "time_zone")
        if job is None:
            raise ValidationError("job", "is required")
        try:
            policy = ConcurrencyPolicy(concurrency_policy)
        except ValueError:
            raise ValidationError("concurrency_policy", f"must be Allow, Forbid or Replace, got {concurrency_policy!r}") from None
        if starting_deadline_seconds is not None and (not isinstance(starting_deadline_seconds, int) or starting_deadline_seconds < 0):
            raise ValidationError("starting_deadline_seconds", "must be a whole number >= 0")
        now = self.store.clock.now()
        schedule = parse_schedule(cron, interval_minutes, time_zone, anchor=now)
        template = await self._new_job(
            job, params, state=JobState.ENQUEUED, scheduled_for=now, queue=queue, tenant_id=tenant_id,
            user_id=user_id, metadata=metadata, max_attempts=max_attempts, retry=retry,
            timeout_seconds=timeout_seconds, image=image, reason="",
        )
        values = {
            "id": recurring_id, "job_type": template.job_type, "queue": template.queue,
            "parameters": template.parameters_dict(), "tenant_id": template.tenant_id, "user_id": template.user_id,
            "metadata": template.metadata, "max_attempts": template.max_attempts,
            "retry_policy": template.retry_policy, "timeout_seconds": template.timeout_seconds,
            "image": image, "cron": cron, "interval_minutes": interval_minutes, "time_zone": time_zone or "UTC",
            "concurrency_policy": policy.value, "starting_deadline_seconds": starting_deadline_seconds,
            "paused": paused, **ResourceRef.columns(resource),
        }
        recurring = await self.store.upsert_recurring(values, schedule.next_after(now))
        await self._audit_recurring(AuditAction.APPLY, recurring_id, recurring, fallback=template.user_id)
        await self.store.notify("recurring")
        return recurring

    async def _find_recurring(self, recurring_id: str, tenant_id: str | None) -> RecurringJob | None:
        """Ids are per tenant: the caller's tenant, else the one tenant that has the id."""
        return await self.store.get_recurring(recurring_id, self._scope(tenant_id))

    async def pause_recurring(self, recurring_id: str, *, tenant_id: str | None = None) -> bool:
        recurring = await self._find_recurring(recurring_id, tenant_id)
        await self._audit_recurring(AuditAction.PAUSE, recurring_id, recurring)
        return recurring is not None and await self.store.set_recurring_paused(recurring_id, True, None, recurring.tenant_id)

    async def resume_recurring(self, recurring_id: str, *, tenant_id: str | None = None) -> bool:
        """Resumes from now on: slots missed while paused are not run."""
        recurring = await self._find_recurring(recurring_id, tenant_id)
        await self._audit_recurring(AuditAction.RESUME, recurring_id, recurring)
        if recurring is None:
            return False
        now = self.store.clock.now()
        schedule = parse_schedule(recurring.cron, recurring.interval_minutes, recurring.time_zone, recurring.anchor_at)
        resumed = await self.store.set_recurring_paused(recurring_id, False, schedule.next_after(now), recurring.tenant_id)
        await self.store.notify("recurring")
        return resumed

    async def remove_recurring(self, recurring_id: str, *, tenant_id: str | None = None) -> bool:
        """Removes the schedule; jobs it already fired keep their history."""
        recurring = await self._find_recurring(recurring_id, tenant_id)
        await self._audit_recurring(AuditAction.DELETE, recurring_id, recurring)
        return recurring is not None and await self.store.delete_recurring(recurring_id, recurring.tenant_id)

    async def trigger_recurring(self, recurring_id: str, *, tenant_id: str | None = None, actor: str | None = None,
                                session: Session | None = None) -> int:
        """Runs a recurring job now, outside its schedule; returns the new job's id.
        `session`: inside that transaction, else in one of its own."""
        if session is None:
            async with self.store.connector.transaction() as session:
                return await self.trigger_recurring(recurring_id, tenant_id=tenant_id, actor=actor, session=session)
        found = await self._find_recurring(recurring_id, tenant_id)
        recurring = found and await self.store.lock_recurring(session, recurring_id, found.tenant_id)
        if recurring is None:
            await self._audit_recurring(AuditAction.TRIGGER, recurring_id, None, actor=actor)
            raise RecurringJobNotFoundError(recurring_id)
        now = self.store.clock.now()
        who = self._acting(actor).actor
        reason = f"recurring job {recurring_id} triggered" + (f" by {who}" if who else "")
        job_id = await self.store.insert_job(job_for_fire(recurring, now, reason), session)
        await self.audit.record(self._acting(actor), AuditAction.TRIGGER, TargetKind.RECURRING, recurring_id,
                                tenant_id=recurring.tenant_id, job_id=job_id, detail=f"job {job_id}", session=session)
        await self.store.record_recurring_fire(
            session, recurring, next_run_at=recurring.next_run_at, last_run_at=now, last_job_id=job_id
        )
        return job_id

    async def get_recurring(self, recurring_id: str, *, tenant_id: str | None = None) -> RecurringJob:
        recurring = await self._find_recurring(recurring_id, tenant_id)
        if recurring is None:
            raise RecurringJobNotFoundError(recurring_id)
        return recurring


async def _on_connection(connection: Any, run_async, run_sync):
    """Runs on a pooled connection (None), or inside the caller's own transaction."""
    if connection is None:
        return await run_async(None)
    if isinstance(connection, psycopg.AsyncConnection):
        return await run_async(Session(connection))
    if isinstance(connection, psycopg.Connection):
        return run_sync(connection)
    raise ValidationError("connection", "must be a psycopg Connection or AsyncConnection")



def _check_filtered(job: NewJob) -> None:
    """A client filter may change a job: what it leaves must pass the checks
    a caller's own values pass (the database no longer repeats them)."""
    checked_job_type(job.job_type)
    if not isinstance(job.queue, str) or not job.queue:
        raise ValidationError("queue", "must be a non-empty string")
    _queue(job.queue)
    checked_max_attempts(job.max_attempts)
    check_timeout(job.timeout_seconds)
    check_metadata(job.metadata)


def _queue(queue: str | None) -> str:
    queue = check_text(queue or "default", "queue")
    if len(queue) > QUEUE_MAX_LENGTH:
        raise ValidationError("queue", f"must be at most {QUEUE_MAX_LENGTH} characters")
    return queue


def _first_set(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None
