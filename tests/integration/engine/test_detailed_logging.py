"""`enable_detailed_logging`: the engine's decisions at DEBUG, and nothing of them when off."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from craft_jobs.backoff import RetryPolicy
from craft_jobs.client import CronExpressions, JobScheduler
from craft_jobs.store.store import JobStore
from craft_jobs.states import JobState
from tests.integration.engine.test_engine import wait_state
from tests.support.jobs import FailTimes, Noop
from tests.support.polling import eventually


def decisions(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "craft_jobs.decisions"]


@pytest.fixture
def store_with(connector, options, clock):
    def make(detailed: bool) -> JobStore:
        return JobStore(connector, options.model_copy(update={"enable_detailed_logging": detailed}), clock)

    return make


@pytest.mark.parametrize("detailed", [True, False])
async def test_the_option_logs_claims_retries_fires_and_expiry(detailed, store_with, start_engine, clock, caplog):
    caplog.set_level(logging.INFO)  # as the CLI sets it: the option alone must bring the DEBUG lines out
    caplog.handler.setLevel(logging.DEBUG)
    store = store_with(detailed)
    scheduler = JobScheduler(store, store.options)
    engine = await start_engine(store=store)
    job_id = await scheduler.schedule(FailTimes, {"failures": 1}, retry=RetryPolicy(max_attempts=3, base_seconds=60, jitter=0))
    await wait_state(store, job_id, JobState.SCHEDULED)
    clock.advance(timedelta(seconds=60))
    await engine.maintenance.run_due_work()
    await wait_state(store, job_id, JobState.SUCCEEDED)
    await scheduler.schedule_recurring("tick", CronExpressions.EVERY_MINUTE, Noop)
    clock.advance(timedelta(minutes=1))
    await engine.maintenance.run_due_work()
    # The engine's own loop may hold the recurring row and fire it a moment later.
    await eventually(lambda: _job_count(store, 2), what="the recurring job's run")
    await eventually(lambda: _all_final(store), what="every job to end")
    clock.advance(timedelta(days=8))
    assert await engine.maintenance.expire_once() >= 2

    lines = decisions(caplog)
    if not detailed:
        assert lines == []
        return
    assert any(line.startswith("claimed 1 jobs") and f"{job_id} (test-fail-times, attempt 0)" in line for line in lines)
    assert f"job {job_id} (test-fail-times) attempt 0 ended with exit code 1: Scheduled, retry 1 of 3 in 60 s" in lines
    assert "promoted 1 due jobs to Enqueued" in lines
    assert any(line.startswith("recurring job tick fired job ") for line in lines)
    assert any(line.startswith("expiry batch: removed ") for line in lines)
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "craft_jobs.decisions")


async def _job_count(store, count: int) -> bool:
    return len(await store.list_jobs()) == count


async def _all_final(store):
    return all(job.state in (JobState.SUCCEEDED, JobState.DELETED) for job in await store.list_jobs())


@pytest.mark.parametrize("detailed", [True, False])
async def test_the_option_logs_slow_queries(detailed, store_with, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.setLevel(logging.DEBUG)
    store = store_with(detailed)
    await store.connector.fetch_value("SELECT pg_sleep(0.3)")
    await store.connector.fetch_value("SELECT 1")
    slow = [line for line in decisions(caplog) if line.startswith("slow query")]
    assert len(slow) == (1 if detailed else 0)
    if detailed:
        assert "SELECT pg_sleep(0.3)" in slow[0]
