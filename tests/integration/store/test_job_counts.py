"""The job counters (migration 0009) equal a COUNT(*) of the jobs after any mix
of changes: inserts, claims, outcomes, retries, deletes, requeues, expiry,
prune, plain SQL updates and deletes, concurrent or not; concurrent writers
never wait on each other's counter rows; closed hours' outcomes roll up once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg

from craft_jobs.engine.maintenance import FOLD_BATCH, STATISTICS_INTERVAL_SECONDS, Maintenance
from craft_jobs.states import JobState
from craft_jobs.store.migrations import available_migrations
from craft_jobs.store.models import Outcome
from craft_jobs.store.queries import render
from craft_jobs.store.stats import StatsStore
from tests.integration.dashboard.factory import enqueue, error, new_job, run
from tests.support.jobs import Noop
from tests.support.polling import eventually

# The counters as readers add them: job_counts and the single inserts' counts
# not folded in yet (migration 0018).
COUNTERS = """(SELECT state, tenant_id, queue, job_type, jobs FROM craft_jobs.job_counts
              UNION ALL SELECT state, tenant_id, queue, job_type, jobs FROM craft_jobs.job_count_deltas) AS counters"""
COUNTED = f"""SELECT state::text, tenant_id, queue, job_type, sum(jobs)::int FROM {COUNTERS}
             GROUP BY 1, 2, 3, 4 HAVING sum(jobs) <> 0 ORDER BY 1, 2, 3, 4"""
DELTAS = "SELECT count(*)::int FROM craft_jobs.job_count_deltas"
ACTUAL = """SELECT state::text, tenant_id, queue, job_type, count(*)::int FROM craft_jobs.jobs
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""


def fetched(url: str, *queries: str) -> list[list[tuple]]:
    with psycopg.connect(url) as conn:
        return [conn.execute(query).fetchall() for query in queries]


async def assert_counts_exact(options) -> None:
    counted, actual = fetched(options.connection_string, COUNTED, ACTUAL)
    assert counted == actual
    assert actual, "the comparison must see jobs"


async def test_counts_follow_every_kind_of_change(scheduler, store, options, clock):
    ids = [await scheduler.schedule(Noop, tenant_id=f"t{i % 3}", queue=("mail", "default")[i % 2]) for i in range(12)]
    await scheduler.schedule_batch([(Noop, None)] * 20, tenant_id="t1", queue="mail")
    await scheduler.schedule(Noop, delay=timedelta(hours=1), tenant_id="t2")
    await scheduler.continue_with(ids[0], Noop)
    claimed = await store.claim_jobs("server-a", 15)
    outcomes = [Outcome(job.id, job.runs, state, job.attempt, "test")
                for job, state in zip(claimed, [JobState.SUCCEEDED, JobState.FAILED] * 8)]
    await store.finish_jobs("server-a", outcomes[:10])
    await scheduler.delete(ids[5])
    await scheduler.requeue(claimed[1].id)
    await scheduler.delete(ids[6])
    await assert_counts_exact(options)

    clock.advance(timedelta(days=400))  # past every expiry and the prune cutoff
    assert await store.expire_jobs() > 0
    assert (await store.prune_jobs(JobState.FAILED, clock.now(), None, 100))[0] > 0
    with psycopg.connect(options.connection_string) as conn:
        conn.execute("UPDATE craft_jobs.jobs SET tenant_id = 'moved', queue = 'elsewhere' WHERE state = 'Enqueued' "
                     "AND id IN (SELECT id FROM craft_jobs.jobs WHERE state = 'Enqueued' ORDER BY id LIMIT 3)")
        conn.execute("DELETE FROM craft_jobs.jobs WHERE id = (SELECT max(id) FROM craft_jobs.jobs WHERE state = 'Enqueued')")
    await assert_counts_exact(options)


async def test_dashboard_counts_are_the_counters_per_tenant_scope(scheduler, options):
    for tenant in ("a", "a", "b", "c"):
        await scheduler.schedule(Noop, tenant_id=tenant)
    await scheduler.schedule(Noop, tenant_id="b", delay=timedelta(minutes=5))
    stats = StatsStore(scheduler.store.connector, options)
    everyone = await stats.state_counts()
    assert everyone[JobState.ENQUEUED] == 4 and everyone[JobState.SCHEDULED] == 1
    assert everyone[JobState.SUCCEEDED] == 0, "every state is present, zero when no job is in it"
    scoped = await stats.state_counts(["a", "b"])
    assert scoped[JobState.ENQUEUED] == 3 and scoped[JobState.SCHEDULED] == 1


async def test_counts_stay_exact_under_concurrent_transitions(scheduler, store, options):
    await scheduler.schedule_batch([(Noop, None)] * 300, tenant_id="busy")

    async def worker(name: str) -> None:
        while claimed := await store.claim_jobs(name, 7):
            states = [JobState.SUCCEEDED, JobState.FAILED, JobState.SUCCEEDED]
            await store.finish_jobs(name, [Outcome(j.id, j.runs, states[j.id % 3], j.attempt, "done") for j in claimed])
            if claimed[0].id % 5 == 0:
                await scheduler.schedule(Noop, tenant_id="busy", queue=name)

    async def deleter() -> None:
        for _ in range(30):
            job_ids = [j.id for j in await store.list_jobs(state=JobState.ENQUEUED, limit=3)]
            for job_id in job_ids:
                await scheduler.delete(job_id)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(f"w{i}") for i in range(4)), deleter())
    await assert_counts_exact(options)


def test_writers_do_not_wait_on_each_others_counter_rows(store, options):
    with psycopg.connect(options.connection_string) as first, psycopg.connect(options.connection_string) as second:
        store.insert_job_sync(new_job(store), first)  # its transaction stays open, holding its counter row
        second.execute("SET lock_timeout = '1s'")
        job_id = store.insert_job_sync(new_job(store), second)  # same key: would wait on one shared row
        second.execute("UPDATE craft_jobs.jobs SET state = 'Deleted' WHERE id = %s", (job_id,))
        second.commit()
        first.commit()
    with psycopg.connect(options.connection_string) as conn:
        counted = conn.execute(f"SELECT state::text, sum(jobs)::int FROM {COUNTERS} GROUP BY 1 "
                               "HAVING sum(jobs) <> 0 ORDER BY 1").fetchall()
    assert counted == [("Deleted", 1), ("Enqueued", 1)]


async def test_fold_moves_ended_connections_rows_into_one(scheduler, store, options):
    for tenant in ("a", "b"):
        await scheduler.schedule(Noop, tenant_id=tenant)
        await scheduler.schedule(Noop, tenant_id=tenant)
        with psycopg.connect(options.connection_string) as conn:
            # A connection of its own that then ends, as an API pod's would.
            conn.execute("UPDATE craft_jobs.jobs SET state = 'Deleted' WHERE id = (SELECT min(id) FROM craft_jobs.jobs "
                         "WHERE tenant_id = %s)", (tenant,))
    with psycopg.connect(options.connection_string) as conn:
        before = conn.execute("SELECT count(*) FROM craft_jobs.job_counts WHERE shard <> 0").fetchone()[0]
    assert before >= 2
    assert await store.fold_job_counts() >= 2
    with psycopg.connect(options.connection_string) as conn:
        shards = conn.execute("SELECT DISTINCT shard FROM craft_jobs.job_counts WHERE tenant_id IN ('a', 'b')").fetchall()
    assert shards == [(0,)]
    await assert_counts_exact(options)


def test_truncate_empties_the_counters(store, options):
    with psycopg.connect(options.connection_string) as conn:
        store.insert_job_sync(new_job(store), conn)
        store.insert_job_sync(new_job(store), conn)
        conn.execute("UPDATE craft_jobs.jobs SET state = 'Deleted' WHERE id = (SELECT min(id) FROM craft_jobs.jobs)")
        assert conn.execute(f"SELECT sum(jobs) FROM {COUNTERS}").fetchone()[0] == 2
        conn.execute("TRUNCATE craft_jobs.jobs, craft_jobs.job_states")
        assert conn.execute("SELECT count(*) FROM craft_jobs.job_counts").fetchone()[0] == 0
        assert conn.execute(DELTAS).fetchone()[0] == 0


async def test_single_inserts_are_counted_at_once_and_folded_later(scheduler, store, options):
    for tenant in ("a", "a", "b"):
        await scheduler.schedule(Noop, tenant_id=tenant)
    stats = StatsStore(scheduler.store.connector, options)
    assert fetched(options.connection_string, DELTAS) == [[(3,)]], "one appended count per job"
    assert (await stats.state_counts(["a"]))[JobState.ENQUEUED] == 2, "counted before any fold"
    assert await stats.tenants() == ["a", "b"]
    assert await store.fold_job_count_deltas(limit=2) == 2, "in batches"
    assert await store.fold_job_count_deltas() == 1
    assert await store.fold_job_count_deltas() == 0, "each count is folded once"
    assert fetched(options.connection_string, DELTAS) == [[(0,)]]
    assert (await stats.state_counts(["a"]))[JobState.ENQUEUED] == 2
    await assert_counts_exact(options)


async def test_a_fold_skips_the_counts_another_is_folding(scheduler, store, options):
    for _ in range(4):
        await scheduler.schedule(Noop, tenant_id="a")
    fold = store.queries["fold_job_count_deltas"]
    with psycopg.connect(options.connection_string) as first:
        assert first.execute(fold, {"limit": 100}).fetchone()[0] == 4  # its transaction stays open, holding those rows
        await scheduler.schedule(Noop, tenant_id="a")
        # It waits for the first fold's new counter row only, then adds to it.
        second = asyncio.create_task(store.fold_job_count_deltas())
        await asyncio.sleep(0.3)
        first.commit()
        assert await second == 1, "the new count only"
    await assert_counts_exact(options)


async def test_an_engine_folds_the_counts_within_seconds(scheduler, store, options, clock):
    await scheduler.schedule_batch([(Noop, None)] * 3, tenant_id="a")
    for _ in range(FOLD_BATCH + 5):  # more than one batch
        await store.insert_job(new_job(store, tenant_id="a"))
    loop = asyncio.create_task(Maintenance(store, options, "server-a", clock).statistics_loop())
    try:
        async def folded() -> bool:
            return await asyncio.to_thread(fetched, options.connection_string, DELTAS) == [[(0,)]]

        await eventually(folded, timeout=STATISTICS_INTERVAL_SECONDS * 3, what="no count left to fold")
    finally:
        loop.cancel()
    await assert_counts_exact(options)


def test_migration_counts_the_jobs_already_stored(empty_database_url):
    schema = "counted_later"
    migrations = available_migrations()
    version = next(m.version for m in migrations if m.name == "job_counts")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        for migration in migrations:
            if migration.version == version:
                conn.execute(f"INSERT INTO {schema}.jobs (job_type, state, parameters, max_attempts, scheduled_for, "
                             "created_at, state_changed_at, tenant_id) SELECT 'x', s::" + schema + ".job_state, '{}', 1, "
                             "now(), now(), now(), 't' || (g % 2) FROM generate_series(1, 9) g, "
                             "unnest(ARRAY['Enqueued', 'Succeeded']) s")
            conn.execute(render(migration.text, schema))
        counted = conn.execute(f"SELECT state::text, tenant_id, sum(jobs)::int FROM {schema}.job_counts "
                               "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    assert counted == [("Enqueued", "t0", 4), ("Enqueued", "t1", 5), ("Succeeded", "t0", 4), ("Succeeded", "t1", 5)]


async def test_hourly_outcomes_roll_up_closed_hours_once_and_the_chart_reads_both_sides(store, options, clock):
    stats = StatsStore(store.connector, options, clock)
    for hours_ago, fail in ((30, False), (3, True), (3, False), (0, False)):
        clock.advance(timedelta(hours=-hours_ago))
        await run(store, await enqueue(store, tenant_id="acme"), fail=error() if fail else None)
        clock.advance(timedelta(hours=hours_ago))
    before = await stats.throughput("hour", timedelta(days=1))  # nothing rolled up yet: all from the history
    assert await store.roll_up_outcomes() == 3, "per closed hour of the last week, tenant and outcome"
    assert await store.roll_up_outcomes() == 0, "a closed hour is added once"
    with psycopg.connect(options.connection_string) as conn:
        rolled = conn.execute("SELECT state::text, jobs::int FROM craft_jobs.job_outcomes ORDER BY 1").fetchall()
    assert rolled == [("Failed", 1), ("Succeeded", 1), ("Succeeded", 1)], "30 h ago: beyond the day, kept for the week"
    after = await stats.throughput("hour", timedelta(days=1))
    assert after == before
    assert (sum(p.succeeded for p in after), sum(p.failed for p in after)) == (2, 1)
    assert sum(p.failed for p in await stats.throughput("hour", timedelta(days=1), ["other"])) == 0
    clock.advance(timedelta(days=8))
    await store.roll_up_outcomes()
    with psycopg.connect(options.connection_string) as conn:
        assert conn.execute("SELECT count(*) FROM craft_jobs.job_outcomes").fetchone()[0] == 0, "a week is kept"
