"""Jobs for the browser tests, made through the store's own paths (insert, claim, finish)."""

from __future__ import annotations

from datetime import timedelta

from craft_jobs.schedules import parse_schedule
from craft_jobs.states import JobState
from craft_jobs.store.models import NewJob, Outcome

SERVER = "engine-browser-1"
XSS = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">"


async def add(store, job_type="send-invoice", **fields) -> int:
    now = store.clock.now()
    fields.setdefault("parameters", {"invoice_id": 1})
    job = NewJob(job_type=job_type, state=fields.pop("state", JobState.ENQUEUED), scheduled_for=now,
                 max_attempts=3, **fields)
    return await store.insert_job(job)


async def heartbeat(store, in_flight=0, server=SERVER, queues=None):
    await store.heartbeat({"id": server, "kind": "engine", "hostname": "node-a", "pid": 7, "worker_count": 20,
                           "queues": queues, "in_flight": in_flight})


async def claim_only(store, job_id):
    """Claims every Enqueued job and puts all but `job_id` back: it is left Processing."""
    await heartbeat(store)
    claimed = await store.claim_jobs(SERVER, 100)
    back = [Outcome(c.id, c.runs, JobState.ENQUEUED, c.attempt, "released") for c in claimed if c.id != job_id]
    if back:
        await store.finish_jobs(SERVER, back)
    return next(c for c in claimed if c.id == job_id)


async def finish(store, job_id, state, error=None, executor_ref=None, retry_in=None):
    job = await claim_only(store, job_id)
    if executor_ref:
        await store.set_executor_ref(job_id, SERVER, executor_ref)
    if retry_in is not None:
        outcome = Outcome(job_id, job.runs, JobState.SCHEDULED, job.attempt + 1, "retry",
                          run_at=store.clock.now() + retry_in, error=error)
    else:
        outcome = Outcome(job_id, job.runs, state, job.attempt, "test outcome", error=error)
    await store.finish_jobs(SERVER, [outcome])


def recurring(id_, cron="0 3 * * *", time_zone="Europe/London", **fields):
    return {"id": id_, "job_type": "cleanup", "queue": "default", "parameters": {"keep_days": 30}, "tenant_id": "",
            "user_id": None, "metadata": {}, "max_attempts": 3, "retry_policy": None, "timeout_seconds": None,
            "image": None, "cron": cron, "interval_minutes": None, "time_zone": time_zone,
            "concurrency_policy": "Forbid", "starting_deadline_seconds": None, "paused": False,
            "cr_uid": None, "cr_namespace": None, "cr_name": None, **fields}


async def add_recurring(store, values):
    schedule = parse_schedule(values["cron"], values["interval_minutes"], values["time_zone"])
    return await store.upsert_recurring(values, schedule.next_after(store.clock.now()))


async def seed(store) -> dict[str, int]:
    for i in range(6):
        done = await add(store, "resize", parameters={"image": f"img-{i}.png"})
        await finish(store, done, JobState.SUCCEEDED)
    failed = await add(store, "send-invoice", parameters={"note": XSS})
    await finish(store, failed, JobState.FAILED, executor_ref="cj-7-run-1", error={
        "exit_code": 1, "executor_ref": "cj-7-run-1", "type": "PaymentError",
        "message": f"card declined {XSS}", "stack": "Traceback (most recent call last):\n  PaymentError"})
    retrying = await add(store, "sync-crm", queue="crm", parameters={"account": 42})
    await finish(store, retrying, JobState.SCHEDULED, retry_in=timedelta(minutes=10), error={
        "exit_code": 1, "type": "TimeoutError", "message": "CRM did not answer within 30 s"})
    delayed = await add(store, "reminder", state=JobState.SCHEDULED, run_at=store.clock.now() + timedelta(hours=2))
    parent = await add(store, "export", parameters={"report": "q1"})
    child = await add(store, "notify", state=JobState.AWAITING, parent_id=parent, parameters={"to": "ops"})
    await add_recurring(store, recurring("ops/nightly-cleanup"))
    running = await add(store, "build-report", queue="reports", parameters={"month": "2026-11"})
    await claim_only(store, running)
    await heartbeat(store, in_flight=2)
    return {"failed": failed, "parent": parent, "child": child, "retrying": retrying, "delayed": delayed,
            "running": running}
