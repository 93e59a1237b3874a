"""Builds realistic job histories through the store's own paths (insert, claim, finish)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from craft_jobs.states import JobState
from craft_jobs.store.models import NewJob, Outcome
from craft_jobs.store.store import JobStore

SERVER = "server-test-1"


def new_job(store: JobStore, job_type: str = "send-invoice", **fields: Any) -> NewJob:
    fields.setdefault("parameters", {"invoice_id": 1})
    fields.setdefault("state", JobState.ENQUEUED)
    fields.setdefault("scheduled_for", store.clock.now())
    fields.setdefault("max_attempts", 3)
    if fields["state"] is JobState.SCHEDULED:
        fields.setdefault("run_at", store.clock.now() + timedelta(hours=1))
    return NewJob(job_type=job_type, **fields)


async def enqueue(store: JobStore, job_type: str = "send-invoice", **fields: Any) -> int:
    job_id = await store.insert_job(new_job(store, job_type, **fields))
    assert job_id is not None
    return job_id


async def heartbeat(store: JobStore, server_id: str = SERVER, in_flight: int = 0) -> None:
    await store.heartbeat({
        "id": server_id, "kind": "engine", "hostname": "host-a", "pid": 4242,
        "worker_count": 20, "queues": None, "in_flight": in_flight,
    })


async def run(
    store: JobStore,
    job_id: int,
    *,
    seconds: float = 2.0,
    fail: dict[str, Any] | None = None,
    final: bool = True,
    executor_ref: str | None = None,
) -> JobState:
    """Claims the job (every Enqueued job of its queue, so keep one waiting) and records an outcome."""
    await heartbeat(store)
    claimed = await store.claim_jobs(SERVER, 100)
    assert job_id in [c.id for c in claimed], f"job {job_id} was not claimable"
    others = [c for c in claimed if c.id != job_id]
    if executor_ref:
        await store.set_executor_ref(job_id, SERVER, executor_ref)
    store.clock.advance(timedelta(seconds=seconds))
    job = next(c for c in claimed if c.id == job_id)
    if fail is None:
        outcome = Outcome(job_id, job.runs, JobState.SUCCEEDED, job.attempt, "succeeded")
    elif final:
        outcome = Outcome(job_id, job.runs, JobState.FAILED, job.attempt, "failed", error=fail)
    else:
        outcome = Outcome(job_id, job.runs, JobState.SCHEDULED, job.attempt + 1, "retry",
                          run_at=store.clock.now() + timedelta(seconds=30), error=fail)
    # Jobs claimed alongside go back to the queue untouched.
    back = [Outcome(c.id, c.runs, JobState.ENQUEUED, c.attempt, "released by the test") for c in others]
    changed, _ = await store.finish_jobs(SERVER, [outcome, *back])
    return changed[job_id]


def error(message: str = "card declined", exit_code: int = 1, type_: str = "PaymentError") -> dict[str, Any]:
    return {"type": type_, "message": message, "stack": f"Traceback (most recent call last):\n  {type_}: {message}",
            "exit_code": exit_code}
