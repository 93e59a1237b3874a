"""StatsStore on a real PostgreSQL: counts, keyset pages, bounded search, charts, the metrics feed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from craft_jobs.states import ContinuationCondition, JobState
from craft_jobs.store.stats import Counted, JobFilter, StatsStore
from tests.integration.dashboard.factory import SERVER, enqueue, error, heartbeat, run


@pytest.fixture
def stats(connector, options, clock):
    return StatsStore(connector, options, clock)


async def test_state_counts_respect_the_tenant_scope(store, stats):
    await enqueue(store, tenant_id="acme")
    await enqueue(store, tenant_id="acme", state=JobState.SCHEDULED)
    await enqueue(store, tenant_id="globex")
    counts = await stats.state_counts()
    assert counts[JobState.ENQUEUED] == 2 and counts[JobState.SCHEDULED] == 1 and counts[JobState.FAILED] == 0
    acme = await stats.state_counts(["acme"])
    assert acme[JobState.ENQUEUED] == 1 and acme[JobState.SCHEDULED] == 1
    assert sum((await stats.state_counts([])).values()) == 0


async def test_state_counts_cover_every_state(store, stats):
    """Working states are counted from their own indexes, final ones from the dashboard's."""
    await run(store, await enqueue(store, tenant_id="acme"))
    await run(store, await enqueue(store, tenant_id="acme"), fail=error())
    await store.change_state(await enqueue(store, tenant_id="acme"), JobState.DELETED, reason="by a test", actor="test")
    parent = await enqueue(store, tenant_id="acme")
    assert [job.id for job in await store.claim_jobs("server-test-2", 5)] == [parent]
    await enqueue(store, tenant_id="acme", state=JobState.SCHEDULED)
    await enqueue(store, tenant_id="acme", state=JobState.AWAITING, parent_id=parent, continuation_on=ContinuationCondition.SUCCEEDED)
    await enqueue(store, tenant_id="acme")
    await enqueue(store, tenant_id="globex")
    expected = {JobState.AWAITING: 1, JobState.SCHEDULED: 1, JobState.ENQUEUED: 1, JobState.PROCESSING: 1,
                JobState.SUCCEEDED: 1, JobState.FAILED: 1, JobState.DELETED: 1}
    assert await stats.state_counts(["acme"]) == expected
    assert await stats.state_counts() == {**expected, JobState.ENQUEUED: 2}
    assert list(await stats.state_counts()) == list(JobState), "in the states' own order"


async def test_pages_are_newest_first_and_chain_without_overlap(store, stats):
    ids = [await enqueue(store, queue="mail" if i % 2 else "default") for i in range(7)]
    first = await stats.list_jobs(JobFilter(), limit=3)
    assert [j.id for j in first.jobs] == ids[::-1][:3]
    second = await stats.list_jobs(JobFilter(), before_id=first.next_before_id, limit=3)
    third = await stats.list_jobs(JobFilter(), before_id=second.next_before_id, limit=3)
    assert [j.id for j in first.jobs + second.jobs + third.jobs] == ids[::-1]
    assert third.next_before_id is None
    mail = await stats.list_jobs(JobFilter(queue="mail"), limit=10)
    assert [j.id for j in mail.jobs] == [ids[5], ids[3], ids[1]]


async def test_filters_combine(store, stats):
    await enqueue(store, "a", tenant_id="t1")
    wanted = await enqueue(store, "b", tenant_id="t1")
    await enqueue(store, "b", tenant_id="t2")
    page = await stats.list_jobs(JobFilter(state=JobState.ENQUEUED, tenants=["t1"], job_type="b"))
    assert [j.id for j in page.jobs] == [wanted]


async def test_search_matches_parameters_and_errors_and_treats_wildcards_literally(store, stats):
    await enqueue(store, parameters={"email": "ann@example.com"})
    by_param = await enqueue(store, parameters={"email": "bob_100%@example.com"})
    failing = await enqueue(store, parameters={"n": 1})
    await run(store, failing, fail=error("gateway timeout"))
    assert [j.id for j in (await stats.list_jobs(JobFilter(search="bob_100%"))).jobs] == [by_param]
    assert (await stats.list_jobs(JobFilter(search="b_b"))).jobs == []
    hits = await stats.list_jobs(JobFilter(search="GATEWAY"))
    assert [j.id for j in hits.jobs] == [failing]
    assert hits.jobs[0].error_type == "PaymentError" and hits.jobs[0].error_message == "gateway timeout"


async def test_search_reads_a_bounded_window_and_says_where_to_continue(store, stats):
    old = await enqueue(store, parameters={"needle": True})
    newer = [await enqueue(store, parameters={"hay": i}) for i in range(5)]
    page = await stats.list_jobs(JobFilter(search="needle"), limit=10, scan_limit=3)
    assert page.jobs == [] and page.scanned == 3 and page.next_before_id == newer[2]
    page = await stats.list_jobs(JobFilter(search="needle"), before_id=page.next_before_id, limit=10, scan_limit=3)
    # A full window cannot know whether older jobs exist: one more call says so.
    assert [j.id for j in page.jobs] == [old] and page.next_before_id == old
    page = await stats.list_jobs(JobFilter(search="needle"), before_id=old, limit=10, scan_limit=3)
    assert page.jobs == [] and page.scanned == 0 and page.next_before_id is None


async def test_throughput_is_zero_filled_per_bucket(store, stats, clock):
    ok = await enqueue(store)
    await run(store, ok, seconds=3)
    bad = await enqueue(store)
    await run(store, bad, fail=error())
    clock.advance(timedelta(minutes=2))
    minutes = await stats.throughput("minute", timedelta(hours=1))
    assert len(minutes) == 61
    assert sum(p.succeeded for p in minutes) == 1 and sum(p.failed for p in minutes) == 1
    assert minutes[-1].succeeded == 0
    hours = await stats.throughput("hour", timedelta(days=1))
    assert len(hours) == 25 and hours[-1].succeeded == 1


async def test_durations_give_percentiles_per_job_type(store, stats, clock):
    for seconds in (1, 2, 3, 4, 100):
        job_id = await enqueue(store, "resize")
        await run(store, job_id, seconds=seconds)
    rows = await stats.durations(timedelta(hours=1))
    assert [r.job_type for r in rows] == ["resize"]
    assert rows[0].executions == 5 and rows[0].run_p50 == pytest.approx(3) and rows[0].run_max == pytest.approx(100)
    assert rows[0].run_p95 > 50


async def test_tenants_job_types_and_continuations(store, stats):
    parent = await enqueue(store, "a", tenant_id="t2")
    child = await enqueue(store, "b", tenant_id="t1", state=JobState.AWAITING, parent_id=parent)
    assert await stats.tenants() == ["t1", "t2"]
    assert await stats.job_types() == ["a", "b"]
    assert [j.id for j in await stats.continuations(parent)] == [child]
    assert await stats.ready()


async def test_history_feed_pairs_runs_with_their_start(store, stats, clock):
    start = await stats.last_history_id()
    job_id = await enqueue(store)
    clock.advance(timedelta(seconds=5))
    await run(store, job_id, seconds=7)
    clock.advance(timedelta(seconds=30))
    events = await stats.history_since(start, clock.now())
    assert [e.state for e in events] == [JobState.ENQUEUED, JobState.PROCESSING, JobState.SUCCEEDED]
    assert events[1].wait_seconds == pytest.approx(5) and events[2].run_seconds == pytest.approx(7)
    # Not yet settled: nothing is handed out, so nothing is skipped later.
    assert await stats.history_since(start, clock.now() - timedelta(minutes=5)) == []


async def test_throughput_keeps_a_failure_after_the_job_is_requeued_and_succeeds(store, stats, clock):
    """The chart counts transitions (job_states), not the state a job is in now."""
    job_id = await enqueue(store, tenant_id="acme")
    await run(store, job_id, fail=error())
    clock.advance(timedelta(minutes=5))
    assert await store.change_state(job_id, JobState.ENQUEUED, reason="requeued")
    await run(store, job_id)
    deleted = await enqueue(store, tenant_id="globex")
    await run(store, deleted)
    assert await store.change_state(deleted, JobState.DELETED, reason="deleted after success")
    clock.advance(timedelta(minutes=1))
    minutes = await stats.throughput("minute", timedelta(hours=1))
    assert [(p.succeeded, p.failed) for p in minutes if p.succeeded or p.failed] == [(0, 1), (2, 0)]
    hours = await stats.throughput("hour", timedelta(days=1))
    assert (sum(p.succeeded for p in hours), sum(p.failed for p in hours)) == (2, 1)
    acme = await stats.throughput("minute", timedelta(hours=1), ["acme"])
    assert [(p.succeeded, p.failed) for p in acme if p.succeeded or p.failed] == [(0, 1), (1, 0)]
    assert sum(p.succeeded + p.failed for p in await stats.throughput("minute", timedelta(hours=1), ["other"])) == 0


def _scans_of(node: dict, relation: str) -> list[dict]:
    found = [node] if node.get("Relation Name") == relation else []
    for child in node.get("Plans", []):
        found += _scans_of(child, relation)
    return found


@pytest.mark.parametrize("tenants", [None, ["acme"]], ids=["every tenant", "one tenant"])
async def test_throughput_reads_only_the_window_of_the_history(store, stats, clock, options, tenants):
    """A week of history outside the hour costs nothing: the outcome index bounds the scan."""
    schema = options.schema_name
    await store.connector.execute(
        f"INSERT INTO {schema}.job_states (job_id, state, reason, created_at)"
        f" SELECT g, (ARRAY['Enqueued', 'Processing', 'Succeeded', 'Failed'])[1 + g %% 4]::{schema}.job_state,"
        f"        'old', %(now)s::timestamptz - interval '2 hours' - g * interval '1 second'"
        f" FROM generate_series(1, 20000) AS g", {"now": clock.now()})
    job_id = await enqueue(store, tenant_id="acme")
    await run(store, job_id)
    await store.connector.execute(f"ANALYZE {schema}.job_states")
    until = clock.now()
    params = {"unit": "minute", "since": until - timedelta(hours=1), "until": until, "tenants": tenants}
    (row,) = await store.connector.fetch_all("EXPLAIN (ANALYZE, FORMAT JSON) " + stats.queries["stats_throughput_by_minute"], params)
    plan = next(iter(row.values()))
    scans = _scans_of(plan[0]["Plan"], "job_states")
    assert [s.get("Index Name") for s in scans] == ["job_states_outcome_idx"], scans
    assert scans[0]["Actual Rows"] + scans[0].get("Rows Removed by Filter", 0) <= 5, scans
    assert sum(p.succeeded for p in await stats.throughput("minute", timedelta(hours=1), tenants)) == 1


async def test_offset_pages_follow_the_same_order(store, stats):
    ids = [await enqueue(store) for _ in range(5)]
    second = await stats.list_jobs(JobFilter(), limit=2, offset=2)
    assert [j.id for j in second.jobs] == ids[::-1][2:4]
    assert (await stats.list_jobs(JobFilter(), limit=2, offset=4)).next_before_id is None
    assert second.jobs[0].started_at is None


async def test_filtered_counts_are_exact_for_small_states_and_scaled_from_a_sample_for_large_ones(store, stats):
    for _ in range(3):
        await enqueue(store, "resize", queue="images", tenant_id="acme")
    await enqueue(store, "resize", queue="default", tenant_id="acme")
    await enqueue(store, "mail", queue="images", tenant_id="globex", state=JobState.SCHEDULED)
    await run(store, await enqueue(store, "mail", queue="images", tenant_id="acme"), fail=error())
    counts = await stats.filtered_counts(JobFilter(queue="images"))
    assert {s: c.count for s, c in counts.items() if c.count} == {
        JobState.ENQUEUED: 3, JobState.SCHEDULED: 1, JobState.FAILED: 1}
    assert list(counts) == list(JobState)
    assert not any(c.capped or c.estimated for c in counts.values())
    acme_resize = await stats.filtered_counts(JobFilter(tenants=["acme"], job_type="resize"))
    assert acme_resize[JobState.ENQUEUED].count == 4 and acme_resize[JobState.SCHEDULED].count == 0
    # 2 of the 4 Enqueued jobs are read (whichever the index gives first): all are "resize", so 2 of 2 of 4.
    sampled = await stats.filtered_counts(JobFilter(job_type="resize"), scan=2)
    assert sampled[JobState.ENQUEUED] == Counted(4, False, estimated=True)
    assert sampled[JobState.FAILED] == Counted(0, False), "a state within the sample is exact"
    none = await stats.filtered_counts(JobFilter(job_type="nothing-like-it"), scan=2)
    assert none[JobState.ENQUEUED] == Counted(0, False, estimated=True)


async def test_retries_are_scheduled_jobs_after_a_failed_run_next_first(store, stats):
    await enqueue(store, state=JobState.SCHEDULED)  # delayed, never ran: not a retry
    later = await enqueue(store, "resize")
    await run(store, later, fail=error("timeout"), final=False)
    store.clock.advance(timedelta(seconds=-20))
    sooner = await enqueue(store, "mail", tenant_id="acme")
    await run(store, sooner, fail=error("refused"), final=False)
    retries = await stats.list_retries(JobFilter())
    assert [j.id for j in retries] == [sooner, later]
    assert retries[0].attempt == 1 and retries[0].error_message == "refused" and retries[0].run_at is not None
    assert [j.id for j in await stats.list_retries(JobFilter(tenants=["acme"]))] == [sooner]
    assert [j.id for j in await stats.list_retries(JobFilter(), limit=1, offset=1)] == [later]
    assert (await stats.retry_count(JobFilter())).count == 2
    assert (await stats.retry_count(JobFilter(job_type="resize"))).count == 1


async def test_queue_load_per_queue_and_tenant(store, stats):
    first = await enqueue(store, queue="mail", tenant_id="acme")
    store.clock.advance(timedelta(minutes=5))
    await enqueue(store, queue="mail", tenant_id="acme")
    await enqueue(store, queue="mail", tenant_id="globex")
    running = await enqueue(store, queue="default", tenant_id="acme")
    await heartbeat(store)
    for job in await store.claim_jobs(SERVER, 10):  # every Enqueued job: all but one go back
        if job.id != running:
            await store.change_state(job.id, JobState.ENQUEUED, reason="back", actor="test")
    loads = {(q.queue, q.tenant_id): q for q in await stats.queues()}
    assert set(loads) == {("default", "acme"), ("mail", "acme"), ("mail", "globex")}
    assert loads[("default", "acme")].processing == 1 and loads[("default", "acme")].enqueued == 0
    assert loads[("default", "acme")].oldest_enqueued_at is None
    assert loads[("mail", "acme")].enqueued == 2
    assert loads[("mail", "acme")].oldest_enqueued_at <= (await store.get_job(first)).enqueued_at
    assert [q.tenant_id for q in await stats.queues(["globex"])] == ["globex"]


async def test_recurring_runs_page_and_count(store, stats):
    ids = [await enqueue(store, recurring_id="ops/nightly") for _ in range(3)]
    await enqueue(store, recurring_id="other")
    await enqueue(store, recurring_id="ops/nightly", tenant_id="globex")  # ids are per tenant
    assert [j.id for j in await stats.recurring_runs("ops/nightly", "", limit=2, offset=1)] == [ids[1], ids[0]]
    assert await stats.recurring_run_count("ops/nightly", "") == Counted(3, False)
    assert await stats.recurring_run_count("ops/nightly", "", cap=2) == Counted(2, True)
