"""Claims running at the same moment (two engines, or a claim beside an
outcome record of the same engine) each get their own jobs."""

from __future__ import annotations

import psycopg

from tests.support.jobs import Noop


async def test_a_claim_is_not_starved_by_another_claim_in_flight(scheduler, store, options):
    await scheduler.schedule_batch([(Noop, None) for _ in range(30)])
    params = store._claim_params("other", 10, None, durable=True)
    with psycopg.connect(options.connection_string) as other_engine:
        # The other engine's claim holds the ten oldest jobs locked, not yet committed.
        held = {row[0] for row in other_engine.execute(store.queries["claim_jobs"], params).fetchall()}
        assert len(held) == 10
        claimed = await store.claim_jobs("me", 10)
        other_engine.rollback()
    assert len(claimed) == 10, "the claim must skip the locked jobs and take the next ones"
    assert not {job.id for job in claimed} & held
