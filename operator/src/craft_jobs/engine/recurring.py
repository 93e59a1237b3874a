"""Firing recurring jobs: one fire per slot, however many engines run.

Due rows are locked with FOR UPDATE SKIP LOCKED and their next slot is
written in the same transaction as the fired job, so a second engine either
waits for the lock and sees the new slot, or skips the row.
Misfires follow `schedules.due_slots`: after downtime, one run for the most
recent missed slot (skipped when older than startingDeadlineSeconds).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from craft_jobs.errors import InvalidScheduleError
from craft_jobs.schedules import Schedule, due_slots, parse_schedule
from craft_jobs.states import ConcurrencyPolicy, JobState
from craft_jobs.store.connector import Session
from craft_jobs.store.models import NewJob, RecurringJob
from craft_jobs.store.store import JobStore

log = logging.getLogger(__name__)

_UNFINISHED = {JobState.AWAITING, JobState.SCHEDULED, JobState.ENQUEUED, JobState.PROCESSING}


def schedule_of(recurring: RecurringJob) -> Schedule:
    return parse_schedule(recurring.cron, recurring.interval_minutes, recurring.time_zone, recurring.anchor_at)


def job_for_fire(recurring: RecurringJob, slot: datetime, reason: str) -> NewJob:
    """The job a recurring job fires: it inherits tenant, user and metadata."""
    return NewJob(
        job_type=recurring.job_type,
        parameters=recurring.parameters,
        state=JobState.ENQUEUED,
        scheduled_for=slot,
        max_attempts=recurring.max_attempts,
        queue=recurring.queue,
        tenant_id=recurring.tenant_id,
        user_id=recurring.user_id,
        metadata=recurring.metadata,
        retry_policy=recurring.retry_policy,
        timeout_seconds=recurring.timeout_seconds,
        image=recurring.image,
        recurring_id=recurring.id,
        cr_namespace=recurring.cr_namespace,
        reason=reason,
    )


async def fire_due_recurring(store: JobStore, limit: int = 100) -> int:
    """Fires every due recurring job once; returns how many jobs were created."""
    fired = 0
    async with store.connector.transaction() as session:
        for recurring in await store.lock_due_recurring(session, limit):
            if await _fire_one(store, session, recurring):
                fired += 1
    return fired


async def _fire_one(store: JobStore, session: Session, recurring: RecurringJob) -> bool:
    now = store.clock.now()
    try:
        schedule = schedule_of(recurring)
    except InvalidScheduleError as exc:
        # An unusable schedule is recorded, not retried in a loop.
        await store.record_recurring_fire(session, recurring, next_run_at=None, schedule_error=str(exc))
        if store.decisions.on:
            store.decisions("recurring job %s not fired: its schedule is unusable: %s", recurring.id, exc)
        return False
    owed = recurring.next_run_at - timedelta(microseconds=1)
    decision = due_slots(schedule, owed, now, recurring.starting_deadline_seconds)
    if decision.fire_slot is None:
        log.info("recurring job %s skipped slot %s: past its starting deadline", recurring.id, decision.skipped_slot)
        await store.record_recurring_fire(session, recurring, next_run_at=decision.next_slot)
        return False
    if not await _concurrency_allows(store, session, recurring):
        await store.record_recurring_fire(session, recurring, next_run_at=decision.next_slot)
        return False
    reason = f"recurring job {recurring.id} fired for {decision.fire_slot.isoformat()}"
    if decision.dropped_earlier:
        reason += " (earlier missed slots were dropped)"
    job_id = await store.insert_job(job_for_fire(recurring, decision.fire_slot, reason), session)
    await store.record_recurring_fire(
        session, recurring, next_run_at=decision.next_slot, last_run_at=now, last_job_id=job_id
    )
    if store.decisions.on:
        store.decisions("recurring job %s fired job %s for slot %s%s; next slot %s", recurring.id, job_id,
                        decision.fire_slot.isoformat(), " (earlier missed slots dropped)" if decision.dropped_earlier
                        else "", decision.next_slot)
    return True


async def _concurrency_allows(store: JobStore, session: Session, recurring: RecurringJob) -> bool:
    if recurring.concurrency_policy is ConcurrencyPolicy.ALLOW or recurring.last_job_id is None:
        return True
    previous = await store.job_state(recurring.last_job_id, session=session)
    if previous not in _UNFINISHED:
        return True
    if recurring.concurrency_policy is ConcurrencyPolicy.FORBID:
        log.info("recurring job %s skipped a slot: job %s is still %s", recurring.id, recurring.last_job_id, previous.value)
        return False
    if store.decisions.on:
        store.decisions("recurring job %s replaces job %s (still %s)", recurring.id, recurring.last_job_id, previous.value)
    await store.change_state(
        recurring.last_job_id,
        JobState.DELETED,
        reason=f"replaced by a newer run of recurring job {recurring.id}",
        actor="engine",
        session=session,
    )
    return True
