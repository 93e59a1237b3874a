"""An engine keeps a tenant at its concurrency limit and fills the slot a
run frees at once, without waiting for the polling interval."""

from __future__ import annotations

from craft_jobs.states import JobState
from tests.support.jobs import Sleep
from tests.support.polling import eventually


async def test_a_limited_tenant_runs_one_at_a_time_and_back_to_back(options, start_engine, scheduler, store):
    limited = options.model_copy(update={"worker_count": 4, "polling_interval_seconds": 60,
                                         "tenant_concurrency_limits": {"a": 1}})
    ids = [await scheduler.schedule(Sleep, {"seconds": 0.3}, tenant_id="a") for _ in range(3)]
    other = await scheduler.schedule(Sleep, {"seconds": 0.3}, tenant_id="b")
    await start_engine(engine_options=limited, use_clock=False)

    async def all_done():
        jobs = [await store.get_job(job_id) for job_id in [*ids, other]]
        return jobs if all(job.state is JobState.SUCCEEDED for job in jobs) else None

    # Three runs in a row take about 1 s; waiting for a poll would take 60 s.
    jobs = await eventually(all_done, timeout=8, what="all four jobs succeeded")
    runs_of_a = sorted((job.started_at, job.finished_at) for job in jobs[:3])
    for (_, ended), (started, _) in zip(runs_of_a, runs_of_a[1:]):
        assert started >= ended, f"tenant a ran two jobs at once: {runs_of_a}"
    assert jobs[3].started_at < runs_of_a[1][0], "tenant b did not wait behind a's line"
