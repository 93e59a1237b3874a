"""An outcome is recorded onto the run it belongs to, never onto a later claim of
the job, and only a server whose own heartbeat is current rescues anything."""

from __future__ import annotations

from datetime import timedelta

from craft_jobs.states import JobState
from craft_jobs.store.models import Outcome
from tests.support.jobs import Noop

SERVER, RESCUER = "engine-a", "engine-b"


async def _heartbeat(store, server_id):
    await store.heartbeat({"id": server_id, "kind": "engine", "hostname": "h", "pid": 1, "worker_count": 10,
                           "queues": None, "in_flight": 0})


async def _claimed_twice(scheduler, store, options):
    """A job that SERVER claimed (run 1), lost to a rescue while silent, and claimed again (run 2)."""
    job_id = await scheduler.schedule(Noop)
    await _heartbeat(store, SERVER)
    [first] = await store.claim_jobs(SERVER, 1)
    store.clock.advance(timedelta(seconds=options.server_timeout_seconds + 1))  # SERVER is silent
    await _heartbeat(store, RESCUER)
    assert await store.rescue_orphans(RESCUER) == 1
    await _heartbeat(store, SERVER)
    [second] = await store.claim_jobs(SERVER, 1)
    assert first.id == second.id == job_id and (first.runs, second.runs) == (1, 2)
    return first, second


def _succeeded(run) -> Outcome:
    return Outcome(run.id, run.runs, JobState.SUCCEEDED, run.attempt, "succeeded",
                   error={"exit_code": 0, "executor_ref": f"jobs/cj-{run.id}-{run.runs}"})


async def test_the_outcome_of_a_rescued_run_is_not_recorded_onto_the_next_claim(scheduler, store, options):
    first, second = await _claimed_twice(scheduler, store, options)
    changed, _ = await store.finish_jobs(SERVER, [_succeeded(first)])
    assert changed == {}
    job = await store.get_job(first.id)
    assert job.state is JobState.PROCESSING and job.runs == 2, "run 2 still holds the job"
    assert [h.state for h in await store.job_history(first.id)][-1] is JobState.PROCESSING
    changed, _ = await store.finish_jobs(SERVER, [_succeeded(second)])
    assert changed == {first.id: JobState.SUCCEEDED}
    [done] = [h for h in await store.job_history(first.id) if h.state is JobState.SUCCEEDED]
    assert done.data["executor_ref"] == f"jobs/cj-{first.id}-2"


async def test_recording_and_claiming_at_once_keeps_the_same_fence(scheduler, store, options):
    first, _ = await _claimed_twice(scheduler, store, options)
    changed, _, claimed = await store.finish_and_claim(SERVER, [_succeeded(first)], 5)
    assert changed == {} and claimed == []
    assert (await store.get_job(first.id)).state is JobState.PROCESSING


async def test_of_two_outcomes_of_one_job_in_a_batch_only_the_current_runs_counts(scheduler, store, options):
    first, second = await _claimed_twice(scheduler, store, options)
    failed = Outcome(second.id, second.runs, JobState.FAILED, second.attempt, "failed: not retryable",
                     error={"exit_code": 2})
    changed, _ = await store.finish_jobs(SERVER, [_succeeded(first), failed])
    assert changed == {first.id: JobState.FAILED}
    finals = [h.state for h in await store.job_history(first.id) if h.state in (JobState.SUCCEEDED, JobState.FAILED)]
    assert finals == [JobState.FAILED], "one history row, the current run's"


async def test_a_rescuer_whose_own_heartbeat_is_stale_rescues_nothing(scheduler, store, options):
    """As a rescue that waited for a connection through an outage, run the moment
    PostgreSQL is back: everyone looks silent, the rescuer too, and every lock is free."""
    job_id = await scheduler.schedule(Noop)
    await _heartbeat(store, SERVER)
    await _heartbeat(store, RESCUER)
    [claimed] = await store.claim_jobs(SERVER, 1)
    store.clock.advance(timedelta(seconds=options.server_timeout_seconds + 1))
    assert await store.rescue_orphans(RESCUER) == 0
    assert await store.rescue_orphans(SERVER) == 0, "not even its own runs"
    assert (await store.get_job(job_id)).state is JobState.PROCESSING
    assert {s.id for s in await store.list_servers()} == {SERVER, RESCUER}, "no server row removed"
    # Once its heartbeat is current again, the rescuer judges as before.
    await _heartbeat(store, RESCUER)
    assert await store.rescue_orphans(RESCUER) == 1
    assert claimed.id == job_id and (await store.get_job(job_id)).state is JobState.ENQUEUED
