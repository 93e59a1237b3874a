"""An engine keeps a tenant at its concurrency limit and fills the slot a
run frees at once, without waiting for the polling interval; beside another
active tenant, no tenant fills its every slot."""

from __future__ import annotations

import asyncio
import time

import pytest

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


async def _flood_beside_a_quiet_tenant(options, start_engine, scheduler, store, headroom_slots: int):
    """An engine of 4 slots that has run a quiet tenant's job, then a flood of
    3 s jobs in as many slots as it may take; returns the engine and the flood."""
    engine_options = options.model_copy(update={"worker_count": 4, "polling_interval_seconds": 60,
                                                "tenant_headroom_slots": headroom_slots})
    engine = await start_engine(engine_options=engine_options, use_clock=False)
    first = await scheduler.schedule(Sleep, {"seconds": 0}, tenant_id="quiet")
    await eventually(lambda: _in_state(store, [first], JobState.SUCCEEDED), what="the quiet tenant's first job")
    flood = [await scheduler.schedule(Sleep, {"seconds": 3}, tenant_id="flood") for _ in range(6)]
    expected = 4 - headroom_slots
    await eventually(lambda: _count(store, flood, JobState.PROCESSING, expected), what=f"{expected} flood runs")
    return engine, flood


@pytest.mark.parametrize("headroom_slots", [1, 0])
async def test_a_quiet_tenants_job_starts_at_once_beside_a_flood_that_would_fill_every_slot(
        options, start_engine, scheduler, store, headroom_slots):
    _, flood = await _flood_beside_a_quiet_tenant(options, start_engine, scheduler, store, headroom_slots)
    quiet = await scheduler.schedule(Sleep, {"seconds": 0}, tenant_id="quiet")
    started = time.monotonic()
    await eventually(lambda: _in_state(store, [quiet], JobState.SUCCEEDED), what="the quiet tenant's job")
    waited = time.monotonic() - started
    if headroom_slots:
        assert waited < 1.5, f"the quiet job waited {waited:.1f} s for a flood run to end"
        assert await _count(store, flood, JobState.PROCESSING, 3), "the flood kept to its slots"
    else:
        assert waited > 1.5, "without headroom the flood held every slot until its runs ended"


async def test_a_flood_with_no_room_left_is_not_claimed_for_on_each_of_its_enqueues(
        options, start_engine, scheduler, store, monkeypatch):
    engine, _ = await _flood_beside_a_quiet_tenant(options, start_engine, scheduler, store, headroom_slots=1)
    claims = []
    claim_jobs = engine.store.claim_jobs

    async def counted(*args, **kwargs):
        claims.append(await claim_jobs(*args, **kwargs))
        return claims[-1]

    monkeypatch.setattr(engine.store, "claim_jobs", counted)
    for _ in range(10):  # each NOTIFYs; no slot here may take them
        await scheduler.schedule(Sleep, {"seconds": 3}, tenant_id="flood")
    await asyncio.sleep(0.5)
    assert claims == [], "a claim for a tenant without room on the engine"
    quiet = await scheduler.schedule(Sleep, {"seconds": 0}, tenant_id="quiet")
    await eventually(lambda: _in_state(store, [quiet], JobState.SUCCEEDED), timeout=1.5, what="the quiet job")
    assert [job.tenant_id for claimed in claims for job in claimed] == ["quiet"]


async def _states(store, ids) -> list[JobState]:
    return [(await store.get_job(job_id)).state for job_id in ids]


async def _in_state(store, ids, state) -> bool:
    return all(found is state for found in await _states(store, ids))


async def _count(store, ids, state, expected) -> bool:
    return (await _states(store, ids)).count(state) == expected
