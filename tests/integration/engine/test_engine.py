"""The engine on a real PostgreSQL: every state transition, driven through the SDK."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from craft_jobs.backoff import RetryPolicy
from craft_jobs.client import ConcurrencyPolicy, ContinuationCondition, CronExpressions, JobScheduler
from craft_jobs.engine.local import LocalExecutor
from craft_jobs.states import JobState
from tests.support.jobs import DeletedWhenExhausted, FailTimes, LogAtLevels, NotRetryable, Noop, RecordContext, Sleep
from tests.support.polling import eventually


async def state_of(store, job_id):
    return (await store.get_job(job_id)).state


async def wait_state(store, job_id, state, timeout=15):
    async def reached():
        return await state_of(store, job_id) is state

    await eventually(reached, timeout, what=f"job {job_id} to be {state.value}")


async def history(store, job_id):
    return [(h.state.value, h.reason) for h in await store.job_history(job_id)]


async def test_fire_and_forget_succeeds(scheduler, store, start_engine):
    await start_engine()
    job_id = await scheduler.schedule(Noop)
    await wait_state(store, job_id, JobState.SUCCEEDED)
    assert [s for s, _ in await history(store, job_id)] == ["Enqueued", "Processing", "Succeeded"]
    job = await store.get_job(job_id)
    assert job.expires_at is not None and job.server_id is None and job.finished_at is not None


async def test_delayed_job_is_promoted_when_due(scheduler, store, start_engine, clock):
    engine = await start_engine()
    job_id = await scheduler.schedule(Noop, delay=timedelta(minutes=10))
    await engine.maintenance.run_due_work()
    assert await state_of(store, job_id) is JobState.SCHEDULED
    clock.advance(timedelta(minutes=10))
    await engine.maintenance.run_due_work()
    await wait_state(store, job_id, JobState.SUCCEEDED)
    assert ("Enqueued", "due") in await history(store, job_id)


async def test_retries_with_backoff_and_the_attempt_reaches_the_job(scheduler, store, start_engine, clock, tmp_path):
    engine = await start_engine()
    out = tmp_path / "runs.jsonl"
    job_id = await scheduler.schedule(FailTimes, {"failures": 2}, retry=RetryPolicy(max_attempts=3, base_seconds=60, jitter=0))
    await wait_state(store, job_id, JobState.SCHEDULED)
    job = await store.get_job(job_id)
    assert job.attempt == 1 and job.run_at == clock.now() + timedelta(seconds=60)
    assert job.last_error["message"] == "failing on attempt 0" and job.last_error["exit_code"] == 1
    clock.advance(timedelta(seconds=60))
    await engine.maintenance.run_due_work()
    await wait_state(store, job_id, JobState.SCHEDULED)
    assert (await store.get_job(job_id)).run_at == clock.now() + timedelta(seconds=120)
    clock.advance(timedelta(seconds=120))
    await engine.maintenance.run_due_work()
    await wait_state(store, job_id, JobState.SUCCEEDED)
    states = [s for s, _ in await history(store, job_id)]
    assert states.count("Processing") == 3 and states.count("Scheduled") == 2
    # The attempt number is in the pod contract too: check it through a recording job.
    record_id = await scheduler.schedule(RecordContext, {"path": str(out)})
    await wait_state(store, record_id, JobState.SUCCEEDED)
    assert json.loads(out.read_text())["attempt"] == 0


async def test_attempts_exhausted_ends_failed_and_never_expires(scheduler, store, start_engine):
    await start_engine()
    job_id = await scheduler.schedule(FailTimes, {"failures": 5}, max_attempts=0)
    await wait_state(store, job_id, JobState.FAILED)
    job = await store.get_job(job_id)
    assert job.expires_at is None and job.last_error["type"] == "RuntimeError"
    assert (await history(store, job_id))[-1] == ("Failed", "failed: retries are off for this job")


async def test_on_attempts_exceeded_delete_ends_deleted_and_expires(scheduler, store, start_engine, clock):
    await start_engine()
    job_id = await scheduler.schedule(DeletedWhenExhausted, retry=RetryPolicy(base_seconds=1, jitter=0, on_attempts_exceeded="Delete"))
    waits_for_finish = await scheduler.continue_with(job_id, Noop, on=ContinuationCondition.FINISHED)
    await wait_state(store, job_id, JobState.SCHEDULED)
    clock.advance(timedelta(seconds=1))
    await wait_state(store, job_id, JobState.DELETED)
    job = await store.get_job(job_id)
    assert job.expires_at is not None and job.finished_at is not None
    assert job.last_error["message"] == "failing on attempt 1"
    assert (await history(store, job_id))[-1] == ("Deleted", "deleted after 2 attempts (on_attempts_exceeded: Delete)")
    await wait_state(store, waits_for_finish, JobState.SUCCEEDED)


async def test_non_retryable_failure_is_not_retried(scheduler, store, start_engine):
    await start_engine()
    job_id = await scheduler.schedule(NotRetryable, max_attempts=5)
    await wait_state(store, job_id, JobState.FAILED)
    assert (await history(store, job_id))[-1] == ("Failed", "failed: not retryable")
    assert (await store.get_job(job_id)).last_error["exit_code"] == 3


async def test_requeue_a_failed_job_runs_it_again(scheduler, store, start_engine):
    await start_engine()
    job_id = await scheduler.schedule(NotRetryable)
    await wait_state(store, job_id, JobState.FAILED)
    assert await scheduler.requeue(job_id)
    await wait_state(store, job_id, JobState.FAILED)
    assert [s for s, _ in await history(store, job_id)].count("Processing") == 2


async def test_continuations(scheduler, store, start_engine):
    await start_engine()
    parent = await scheduler.schedule(Noop, delay=timedelta(hours=1))
    on_success = await scheduler.continue_with(parent, Noop)
    on_finish = await scheduler.continue_with(parent, Noop, on=ContinuationCondition.FINISHED)
    failing_parent = await scheduler.schedule(NotRetryable)
    waits_for_failed = await scheduler.continue_with(failing_parent, Noop)
    assert await scheduler.delete(parent)
    await wait_state(store, on_finish, JobState.SUCCEEDED)
    await wait_state(store, on_success, JobState.DELETED)
    assert (await history(store, on_success))[-1] == ("Deleted", f"parent job {parent} was deleted, so it can never succeed")
    await wait_state(store, failing_parent, JobState.FAILED)
    assert await state_of(store, waits_for_failed) is JobState.AWAITING
    succeeding_parent = await scheduler.schedule(Noop)
    child = await scheduler.continue_with(succeeding_parent, RecordContext, {"path": "/dev/null"})
    await wait_state(store, child, JobState.SUCCEEDED)
    assert ("Enqueued", f"parent job {succeeding_parent} is Succeeded") in await history(store, child)


async def test_deleting_a_running_job_stops_it(scheduler, store, start_engine, options, tmp_path):
    engine = await start_engine(LocalExecutor(options.job_modules, cancel_grace_seconds=2))
    marker = tmp_path / "started"
    job_id = await scheduler.schedule(Sleep, {"seconds": 60, "started_marker": str(marker)})

    async def started():
        return marker.exists()

    await eventually(started, 20, what="the job to start")
    assert await scheduler.delete(job_id)
    await eventually(lambda: _no_runs(engine), 10, what="the run to stop")
    assert await state_of(store, job_id) is JobState.DELETED
    assert [s for s, _ in await history(store, job_id)] == ["Enqueued", "Processing", "Deleted"]


async def _no_runs(engine):
    return engine.dispatcher.in_flight == 0


async def test_local_executor_gives_the_job_the_pod_contract(scheduler, store, start_engine, options, tmp_path, monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_CONNECTION_STRING", options.connection_string)
    await start_engine(LocalExecutor(options.job_modules, cancel_grace_seconds=2))
    out = tmp_path / "runs.jsonl"
    job_id = await scheduler.schedule(RecordContext, {"path": str(out), "value": "v"}, tenant_id="acme", user_id="user-a", metadata={"m": 1})
    await wait_state(store, job_id, JobState.SUCCEEDED)
    record = json.loads(out.read_text())
    job = await store.get_job(job_id)
    assert record["job_id"] == str(job_id) and record["attempt"] == 0 and record["value"] == "v"
    assert (record["tenant_id"], record["user_id"], record["metadata"]) == ("acme", "user-a", {"m": 1})
    assert record["scheduled_for"] == job.scheduled_for.isoformat()
    assert record["control_plane_settings"] == [], "the database password must not reach a job"
    import os

    assert record["pid"] != os.getpid()  # it really ran in a child process


async def test_local_executor_timeout_kills_and_counts_as_a_failure(scheduler, store, start_engine, options):
    await start_engine(LocalExecutor(options.job_modules, cancel_grace_seconds=1))
    job_id = await scheduler.schedule(Sleep, {"seconds": 60}, timeout_seconds=1, max_attempts=0)
    await wait_state(store, job_id, JobState.FAILED, timeout=20)
    assert (await store.get_job(job_id)).last_error["type"] == "Timeout"


async def test_local_executor_reports_the_termination_message(scheduler, store, start_engine, options):
    await start_engine(LocalExecutor(options.job_modules, cancel_grace_seconds=1))
    job_id = await scheduler.schedule(NotRetryable)
    await wait_state(store, job_id, JobState.FAILED, timeout=20)
    error = (await store.get_job(job_id)).last_error
    assert error["message"] == "bad input, retrying cannot help" and error["exit_code"] == 3
    assert "Traceback" in error["stack"] and error["executor_ref"].startswith("pid:")


async def test_worker_count_bounds_jobs_in_flight(scheduler, store, start_engine, options):
    engine = await start_engine(engine_options=options.model_copy(update={"worker_count": 2}))
    ids = [await scheduler.schedule(Sleep, {"seconds": 0.3}) for _ in range(6)]
    peak = 0

    async def all_done():
        nonlocal peak
        peak = max(peak, engine.dispatcher.in_flight, len(await store.list_jobs(state=JobState.PROCESSING)))
        return all([await state_of(store, i) is JobState.SUCCEEDED for i in ids])

    await eventually(all_done, 20, interval=0.02)
    assert peak == 2


async def test_notify_wakes_the_engine_long_before_the_polling_interval(scheduler, store, start_engine, options):
    await start_engine(engine_options=options.model_copy(update={"polling_interval_seconds": 60}))
    for _ in range(3):
        job_id = await scheduler.schedule(Noop)
        await wait_state(store, job_id, JobState.SUCCEEDED, timeout=3)


async def test_recurring_job_fires_once_per_slot_and_inherits_context(scheduler, store, start_engine, clock):
    engine = await start_engine()
    await scheduler.schedule_recurring("tick", CronExpressions.EVERY_MINUTE, Noop, tenant_id="acme", user_id="ops", metadata={"r": 1})
    clock.advance(timedelta(minutes=1))
    await engine.maintenance.run_due_work()
    await eventually(lambda: _recurring_fired(store, "tick", 1), what="the first fire")
    await engine.maintenance.run_due_work()
    [job] = await store.list_jobs(job_type="test-noop")
    assert job.recurring_id == "tick" and job.scheduled_for.minute == (clock.now()).minute
    assert (job.tenant_id, job.user_id, job.metadata) == ("acme", "ops", {"r": 1})
    # After ten minutes of downtime: one run for the latest missed slot, not ten.
    clock.advance(timedelta(minutes=10))
    await engine.maintenance.run_due_work()
    await eventually(lambda: _recurring_fired(store, "tick", 2), what="the catch-up fire")
    jobs = await store.list_jobs(job_type="test-noop")
    assert len(jobs) == 2 and jobs[0].scheduled_for == clock.now().replace(second=0, microsecond=0)
    assert "earlier missed slots were dropped" in (await history(store, jobs[0].id))[0][1]


async def test_two_engines_fire_each_slot_once(scheduler, store, start_engine, clock, options):
    first = await start_engine()
    second = await start_engine(store=None)
    for name in ("a", "b", "c"):
        await scheduler.schedule_recurring(name, CronExpressions.EVERY_MINUTE, Noop)
    for minute in range(5):
        clock.advance(timedelta(minutes=1))

        await asyncio.gather(first.maintenance.run_due_work(), second.maintenance.run_due_work())
        for name in ("a", "b", "c"):
            await eventually(lambda: _recurring_fired(store, name, minute + 1), what=f"{name} to fire")
    jobs = await store.list_jobs(job_type="test-noop", limit=100)
    assert len(jobs) == 15
    assert len({(j.recurring_id, j.scheduled_for) for j in jobs}) == 15


async def test_recurring_concurrency_policies(scheduler, store, start_engine, clock):
    # The engine serves only "default": fired jobs on "parked" stay unfinished.
    engine = await start_engine(queues=["default"])
    for policy in ConcurrencyPolicy:
        await scheduler.schedule_recurring(policy.value, CronExpressions.EVERY_MINUTE, Noop, queue="parked", concurrency_policy=policy)
    clock.advance(timedelta(minutes=1))
    await engine.maintenance.run_due_work()
    for policy in ConcurrencyPolicy:
        await eventually(lambda: _recurring_fired(store, policy.value, 1), what=f"the first {policy.value} fire")
    first = {j.recurring_id: j.id for j in await store.list_jobs(job_type="test-noop")}
    clock.advance(timedelta(minutes=1))
    await engine.maintenance.run_due_work()
    # The engine's own loop may hold a row's lock at this moment: wait for its commit.
    await eventually(lambda: _recurring_fired(store, "Allow", 2), what="the second Allow fire")
    await eventually(lambda: _recurring_fired(store, "Replace", 2), what="the second Replace fire")
    fired = {}
    for job in await store.list_jobs(job_type="test-noop"):
        fired.setdefault(job.recurring_id, []).append(job)
    assert len(fired["Allow"]) == 2
    assert len(fired["Forbid"]) == 1  # skipped: the previous run is unfinished
    assert len(fired["Replace"]) == 2
    assert await state_of(store, first["Replace"]) is JobState.DELETED
    assert (await history(store, first["Replace"]))[-1][1] == "replaced by a newer run of recurring job Replace"
    assert await state_of(store, first["Allow"]) is JobState.ENQUEUED


async def _recurring_fired(store, recurring_id, count):
    return len([j for j in await store.list_jobs(limit=200) if j.recurring_id == recurring_id]) >= count


async def test_expiry_removes_old_final_jobs_and_their_history_but_not_failed_ones(scheduler, store, start_engine, clock):
    engine = await start_engine()
    done = await scheduler.schedule(Noop)
    failed = await scheduler.schedule(NotRetryable)
    await wait_state(store, done, JobState.SUCCEEDED)
    await wait_state(store, failed, JobState.FAILED)
    clock.advance(timedelta(days=7, seconds=1))
    assert await engine.maintenance.expire_once() == 1
    assert await store.get_job(done) is None and await store.job_history(done) == []
    assert await state_of(store, failed) is JobState.FAILED


async def test_two_engines_never_run_a_job_twice(scheduler, store, start_engine):
    # Short sleeps keep each engine's 20 workers busy, so neither can take everything.
    ids = await scheduler.schedule_batch([(Sleep, {"seconds": 0.05})] * 300)
    await start_engine()
    await start_engine(store=None)

    async def all_succeeded():
        return len(await store.list_jobs(state=JobState.SUCCEEDED, limit=1000)) == 300

    await eventually(all_succeeded, 30)
    servers = set()
    for job_id in ids:
        entries = await store.job_history(job_id)
        assert [e.state.value for e in entries] == ["Enqueued", "Processing", "Succeeded"]
        servers.update(e.server_id for e in entries if e.state is JobState.PROCESSING)
    assert len(servers) == 2  # both engines took a share


async def test_scheduler_connects_on_its_own(options):
    scheduler = await JobScheduler.connect(options)
    try:
        assert await scheduler.requeue(12345) is False
    finally:
        await scheduler.close()


async def _relayed_levels(caplog, marker):
    return [r for r in caplog.records if r.name == "craft_jobs.jobs" and marker in r.getMessage()]


async def test_local_executor_keeps_each_job_record_level(scheduler, store, start_engine, options, caplog, monkeypatch):
    monkeypatch.setenv("CRAFT_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG, logger="craft_jobs.jobs")
    await start_engine(LocalExecutor(options.job_modules, cancel_grace_seconds=1))
    levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    job_id = await scheduler.schedule(LogAtLevels, {"marker": "m-json", "levels": levels, "fail": True})
    await wait_state(store, job_id, JobState.FAILED, timeout=20)
    records = await _relayed_levels(caplog, "m-json")
    relayed = [(json.loads(r.getMessage())["message"], r.levelname) for r in records]
    assert relayed[:5] == [(f"m-json at {name}", name) for name in levels]
    # The runner's own record of the failure, with its traceback, stays an ERROR.
    assert [r.levelname for r in records[5:] if "RuntimeError: m-json failed" in r.getMessage()] == ["ERROR"]
    assert all(r.job_id == job_id for r in records)


async def test_local_executor_keeps_text_record_levels_and_their_tracebacks(
    scheduler, store, start_engine, options, caplog, monkeypatch
):
    monkeypatch.setenv("CRAFT_LOG_FORMAT", "text")
    caplog.set_level(logging.DEBUG, logger="craft_jobs.jobs")
    await start_engine(LocalExecutor(options.job_modules, cancel_grace_seconds=1))
    job_id = await scheduler.schedule(LogAtLevels, {"marker": "m-text", "levels": ["INFO", "WARNING"], "fail": True})
    await wait_state(store, job_id, JobState.FAILED, timeout=20)
    relayed = [r for r in caplog.records if r.name == "craft_jobs.jobs" and r.job_id == job_id]
    by_level = {r.levelname: [] for r in relayed}
    for r in relayed:
        by_level[r.levelname].append(r.getMessage())
    assert any("m-text at INFO" in m for m in by_level["INFO"])
    assert any("m-text at WARNING" in m for m in by_level["WARNING"])
    # The traceback's lines follow their ERROR record and keep its level.
    assert any("RuntimeError: m-text failed" in m for m in by_level["ERROR"])
    assert any(m.startswith("Traceback") for m in by_level["ERROR"])


async def test_the_engine_level_filters_job_lines(scheduler, store, start_engine, options, caplog):
    caplog.set_level(logging.ERROR, logger="craft_jobs.jobs")
    await start_engine(LocalExecutor(options.job_modules, cancel_grace_seconds=1))
    job_id = await scheduler.schedule(LogAtLevels, {"marker": "m-filter", "levels": ["INFO", "WARNING", "ERROR"]})
    await wait_state(store, job_id, JobState.SUCCEEDED, timeout=20)
    messages = [json.loads(r.getMessage())["message"] for r in await _relayed_levels(caplog, "m-filter")]
    assert messages == ["m-filter at ERROR"]
