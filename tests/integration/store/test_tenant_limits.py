"""Claims are fair across tenants, and a tenant's concurrency limit holds
across engines: over it, its jobs wait in Enqueued."""

from __future__ import annotations

import asyncio
from collections import Counter

import psycopg
import pytest

from craft_jobs.states import JobState
from craft_jobs.store.models import Outcome
from craft_jobs.store.store import JobStore
from tests.support.jobs import Noop

SERVER = "engine-a"


@pytest.fixture
def limited_options(options):
    return options.model_copy(update={"tenant_concurrency_limit": 2,
                                      "tenant_concurrency_limits": {"big": 5, "held": 0}})


@pytest.fixture
async def limited_store(connector, limited_options, clock):
    return JobStore(connector, limited_options, clock)


def _tenants(claimed) -> Counter:
    return Counter(job.tenant_id for job in claimed)


async def test_a_quiet_tenants_job_is_in_the_next_claim_behind_a_flood_of_ten_thousand(scheduler, store):
    await scheduler.schedule_batch([(Noop, None)] * 10_000, tenant_id="flood")
    quiet = await scheduler.schedule(Noop, tenant_id="quiet")
    claimed = await store.claim_jobs(SERVER, 2)
    assert quiet in {job.id for job in claimed}, "one dispatch round, however long the other line"
    assert _tenants(claimed) == {"flood": 1, "quiet": 1}


async def test_a_freed_slot_goes_to_the_tenant_with_the_fewest_runs_even_behind_an_older_job(scheduler, store):
    await scheduler.schedule_batch([(Noop, None)] * 10, tenant_id="flood")
    assert _tenants(await store.claim_jobs(SERVER, 4)) == {"flood": 4}
    quiet = await scheduler.schedule(Noop, tenant_id="quiet")
    # Both lines' first jobs have place one; the flood's is older, but it has four runs in flight.
    assert [job.id for job in await store.claim_jobs(SERVER, 1)] == [quiet]


async def test_each_tenant_gets_at_most_its_limit_and_a_held_tenant_none(scheduler, limited_store):
    for tenant in ("a", "big", "held"):
        await scheduler.schedule_batch([(Noop, None)] * 10, tenant_id=tenant)
    assert _tenants(await limited_store.claim_jobs(SERVER, 20)) == {"a": 2, "big": 5}
    assert await limited_store.claim_jobs(SERVER, 20) == [], "every tenant is at its limit"
    held = await limited_store.list_jobs(tenant_id="held", state=JobState.ENQUEUED, limit=20)
    assert len(held) == 10


async def test_a_queue_gets_at_most_its_limit_across_tenants(scheduler, limited_store):
    limited_store.options = limited_store.options.model_copy(update={
        "tenant_concurrency_limit": None, "tenant_concurrency_limits": {}, "queue_concurrency_limits": {"emails": 3}})
    for tenant in ("a", "b"):
        await scheduler.schedule_batch([(Noop, None)] * 4, tenant_id=tenant, queue="emails")
        await scheduler.schedule_batch([(Noop, None)] * 2, tenant_id=tenant)
    claimed = await limited_store.claim_jobs(SERVER, 20)
    assert Counter(job.queue for job in claimed) == {"emails": 3, "default": 4}
    assert {job.tenant_id for job in claimed if job.queue == "emails"} == {"a", "b"}, "fair within the queue too"
    assert await limited_store.claim_jobs(SERVER, 20) == []


async def test_a_slot_freed_by_an_outcome_goes_to_the_next_claim(scheduler, limited_store):
    await scheduler.schedule_batch([(Noop, None)] * 3, tenant_id="a")
    first, _ = await limited_store.claim_jobs(SERVER, 10)
    done = Outcome(first.id, first.runs, JobState.SUCCEEDED, first.attempt, "succeeded", error={"exit_code": 0})
    # The statement that records the outcome still sees the run in flight ...
    _, _, claimed = await limited_store.finish_and_claim(SERVER, [done], 10)
    assert claimed == []
    # ... the next one does not (the dispatcher claims again at once, engine test below).
    assert len(await limited_store.claim_jobs(SERVER, 10)) == 1


async def test_two_engines_claiming_at_once_do_not_pass_a_tenants_limit(scheduler, limited_store, limited_options):
    await scheduler.schedule_batch([(Noop, None)] * 10, tenant_id="a")
    params = limited_store._claim_params("engine-b", 10, None, durable=True)
    with psycopg.connect(limited_options.connection_string) as other_engine:
        # Engine B is inside its claim: it holds the turn and two of a's jobs, not yet committed.
        other_engine.execute(limited_store.queries["take_claim_turn"])
        held = other_engine.execute(limited_store.queries["claim_jobs"], params).fetchall()
        assert len(held) == 2
        ours = asyncio.create_task(limited_store.claim_jobs(SERVER, 10))
        await asyncio.sleep(0.5)
        assert not ours.done(), "our claim waits for B's turn to end"
        other_engine.commit()
    assert await ours == [], "after B's commit, tenant a has no room left"


async def test_without_limits_claims_do_not_take_turns(scheduler, store, options):
    await scheduler.schedule_batch([(Noop, None)] * 4, tenant_id="a")
    with psycopg.connect(options.connection_string) as other_engine:
        other_engine.execute(store.queries["take_claim_turn"])
        claimed = await asyncio.wait_for(store.claim_jobs(SERVER, 10), 5)
        other_engine.rollback()
    assert len(claimed) == 4


async def test_a_claim_gives_no_tenant_more_than_its_room_on_the_engine(scheduler, store):
    await scheduler.schedule_batch([(Noop, None)] * 5, tenant_id="flood")
    await scheduler.schedule_batch([(Noop, None)] * 5, tenant_id="quiet")
    claimed = await store.claim_jobs(SERVER, 10, engine_rooms={"*": 3, "flood": 1})
    assert _tenants(claimed) == {"flood": 1, "quiet": 3}
    assert _tenants(await store.claim_jobs(SERVER, 10)) == {"flood": 4, "quiet": 2}, "no rooms: every job may go"
