"""`craft-jobs prune` on a real PostgreSQL: dry run, then removal in batches, history with its jobs."""

from __future__ import annotations

import asyncio

import pytest

from craft_jobs.states import JobState
from tests.integration.engine.test_engine import wait_state
from tests.integration.test_cli import cli  # noqa: F401  (the fixture)
from tests.support.jobs import NotRetryable, Noop

# The engine's frozen clock (tests/integration/conftest.py) is 2026-03-01, so
# its jobs are months old by the system clock that `prune` uses.


@pytest.fixture
async def old_jobs(scheduler, store, start_engine):
    await start_engine()
    done = [await scheduler.schedule(Noop) for _ in range(3)]
    failed = await scheduler.schedule(NotRetryable)
    for job_id in done:
        await wait_state(store, job_id, JobState.SUCCEEDED)
    await wait_state(store, failed, JobState.FAILED)
    return done, failed


async def test_prune_is_a_dry_run_then_removes_jobs_with_their_history_in_batches(cli, old_jobs, store):  # noqa: F811
    done, failed = old_jobs
    history_before = {job_id: len(await store.job_history(job_id)) for job_id in done}
    assert all(count >= 3 for count in history_before.values())

    code, out, _ = await asyncio.to_thread(cli, "prune", "--state", "Succeeded", "--older-than", "30d")
    assert code == 0
    assert "would remove 3 Succeeded jobs that entered that state before" in out
    assert f"with {sum(history_before.values())} history rows" in out
    assert f"3 test-noop (ids {min(done)}-{max(done)})" in out and "nothing removed" in out
    assert all([await store.get_job(job_id) is not None for job_id in done])

    code, out, _ = await asyncio.to_thread(cli, "prune", "--state", "Succeeded", "--older-than", "3650d", "--yes")
    assert code == 0 and "removed 0 Succeeded jobs" in out

    code, out, _ = await asyncio.to_thread(cli, "prune", "--state", "Succeeded", "--older-than", "30d", "--yes", "--batch-size", "2")
    assert code == 0 and "removed 3 Succeeded jobs" in out and "in 2 batches" in out
    for job_id in done:
        assert await store.get_job(job_id) is None
        assert await store.job_history(job_id) == [], "no orphaned history"
    # Another state is left alone, history and all.
    assert (await store.get_job(failed)).state is JobState.FAILED and await store.job_history(failed)


async def test_prune_keeps_other_tenants_jobs(cli, old_jobs, store):  # noqa: F811
    code, out, _ = await asyncio.to_thread(cli, "prune", "--state", "Succeeded", "--older-than", "30d", "--tenant", "someone-else", "--yes")
    assert code == 0 and "removed 0 Succeeded jobs" in out and "(tenant someone-else)" in out
    assert all([await store.get_job(job_id) is not None for job_id in old_jobs[0]])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--state", "Finished", "--older-than", "30d"), "error: --state: 'Finished' is not a state; one of Succeeded, Deleted, Failed"),
        (("--state", "Processing", "--older-than", "30d"), "error: --state: Processing jobs are still live work and cannot be pruned"),
        (("--state", "Succeeded", "--older-than", "a month"), "error: --older-than: 'a month' is not a duration such as 90s"),
        (("--state", "Succeeded", "--older-than", "30d", "--batch-size", "0"), "error: --batch-size: 0 is out of range 1-100000"),
    ],
)
def test_prune_names_a_bad_argument(cli, args, message):  # noqa: F811
    code, _, err = cli("prune", *args)
    assert code == 2 and message in err
