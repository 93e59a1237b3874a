"""A burst of jobs into a table whose statistics say it is small gets the
table analyzed within seconds, not at autovacuum's next look: until then the
planner reads a flooding tenant's whole line on every claim."""

from __future__ import annotations

import psycopg

from tests.support.jobs import Noop


async def _enqueue_counted(scheduler, options, count: int) -> None:
    """`count` jobs in batches, on a connection that then hands its counters to the
    statistics views at once (a backend otherwise may wait up to 10 s to)."""
    async with await psycopg.AsyncConnection.connect(options.connection_string, autocommit=True) as connection:
        for done in range(0, count, 1000):
            async with connection.transaction():
                await scheduler.schedule_batch([(Noop, None)] * min(1000, count - done), tenant_id="flood",
                                               connection=connection)
        await connection.execute("SELECT pg_stat_force_next_flush()")


def _table(options) -> tuple[float, int]:
    """(rows the statistics know of, rows the table holds)."""
    with psycopg.connect(options.connection_string, autocommit=True) as connection:
        return connection.execute(
            "SELECT c.reltuples, s.n_live_tup FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid"
            f" WHERE c.oid = '{options.schema_name}.jobs'::regclass").fetchone()


async def test_a_burst_far_beyond_the_statistics_gets_the_table_analyzed_once(scheduler, store, options):
    assert not await store.analyze_jobs_if_stale(), "an empty table is not stale"
    await _enqueue_counted(scheduler, options, 5000)
    assert _table(options) == (-1, 5000), "never analyzed, 5,000 rows added"
    assert await store.analyze_jobs_if_stale()
    assert _table(options) == (5000, 5000)
    assert not await store.analyze_jobs_if_stale(), "just analyzed"
    with psycopg.connect(options.connection_string, autocommit=True) as connection:
        connection.execute(f"UPDATE {options.schema_name}.jobs SET state = 'Succeeded', finished_at = now()")
        connection.execute("SELECT pg_stat_force_next_flush()")
    assert not await store.analyze_jobs_if_stale(), "changes of state are left to autovacuum"


async def test_a_table_of_a_thousand_rows_is_left_to_autovacuum(scheduler, store, options):
    await _enqueue_counted(scheduler, options, 1000)
    assert _table(options)[1] == 1000
    assert not await store.analyze_jobs_if_stale()
