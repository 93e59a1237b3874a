"""What the SDK and the CLI's callers leave in the audit trail, and what a recurring fire does not."""

from __future__ import annotations

from craft_jobs.audit import AuditAction, Surface, acting_as
from craft_jobs.engine.recurring import fire_due_recurring
from craft_jobs.store.audit_store import AuditFilter, AuditStore


def _rows(entries) -> list[tuple]:
    return [(e.action.value, e.surface.value, e.actor, e.outcome.value, e.job_id) for e in entries]


async def test_sdk_calls_are_audited_with_the_principal(scheduler, store, clock):
    audit = AuditStore(store)
    role = (await store.connector.fetch_one("SELECT session_user::text AS role", {}))["role"]
    anonymous = await scheduler.schedule("test-noop")
    named = await scheduler.schedule("test-noop", user_id="billing-service")
    batch = await scheduler.schedule_batch([("test-noop", None), ("test-noop", None)], user_id="importer")
    assert await scheduler.requeue(anonymous, actor="ops@example.com")
    assert not await scheduler.delete(999_999)
    with acting_as(Surface.CLI, "alice"):
        assert await scheduler.delete(named)
    rows = _rows(await audit.list(AuditFilter()))
    assert rows == [
        ("delete", "cli", "alice", "ok", named),
        ("delete", "sdk", role, "not_found", 999_999),
        ("requeue", "sdk", "ops@example.com", "ok", anonymous),
        ("schedule", "sdk", "importer", "ok", None),  # one row for the batch
        ("schedule", "sdk", "billing-service", "ok", named),
        ("schedule", "sdk", role, "ok", anonymous),
    ]
    batch_job = await store.get_job(batch[0])
    (batch_row,) = await audit.list(AuditFilter(job_id=batch[0], batch_id=str(batch_job.batch_id)))
    assert batch_row.target_kind.value == "batch" and batch_row.detail == f"2 jobs, #{batch[0]} to #{batch[1]}"


async def test_recurring_actions_are_audited_and_fires_are_not(scheduler, store, clock):
    from datetime import timedelta

    audit = AuditStore(store)
    await scheduler.schedule_recurring("every-minute", "* * * * *", "test-noop", user_id="planner")
    await scheduler.pause_recurring("every-minute")
    await scheduler.resume_recurring("every-minute")
    triggered = await scheduler.trigger_recurring("every-minute", actor="ops")
    assert not await scheduler.pause_recurring("missing")
    clock.advance(timedelta(minutes=2))
    assert await fire_due_recurring(store) == 1  # the engine's own work: no row
    assert await scheduler.remove_recurring("every-minute")
    rows = [(e.action.value, e.actor, e.outcome.value, e.target_id, e.job_id)
            for e in await audit.list(AuditFilter())]
    role = (await store.connector.fetch_one("SELECT session_user::text AS role", {}))["role"]
    assert rows == [
        ("delete", role, "ok", "every-minute", None),
        ("pause", role, "not_found", "missing", None),
        ("trigger", "ops", "ok", "every-minute", triggered),
        ("resume", role, "ok", "every-minute", None),
        ("pause", role, "ok", "every-minute", None),
        ("apply", "planner", "ok", "every-minute", None),
    ]
    assert [e.action for e in await audit.list(AuditFilter(job_id=triggered))] == [AuditAction.TRIGGER]
