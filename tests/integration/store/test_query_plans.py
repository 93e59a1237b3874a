"""The dispatcher's statements touch only the rows they change, even when the
table's statistics are stale.

A queue's jobs change state far faster than autovacuum re-analyzes the table:
statistics taken while every job was Enqueued make the planner think no job
is Processing or Succeeded. These tests build exactly that and read the plans
PostgreSQL runs, generic ones included (what a prepared statement gets after
five executions, when LIMIT and the arrays are parameters).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from tests.support.jobs import Noop

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
BACKLOG = 3000


def _scans_of_jobs(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node] if node.get("Relation Name") == "jobs" else []
    for child in node.get("Plans", []):
        found += _scans_of_jobs(child)
    return found


def _plan(connection: psycopg.Connection, query: str, params: dict[str, Any], generic: bool) -> list[dict[str, Any]]:
    connection.execute(f"SET plan_cache_mode = {'force_generic_plan' if generic else 'auto'}")
    with connection.transaction(force_rollback=True):
        (plan,) = connection.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return _scans_of_jobs(plan[0]["Plan"])


def _assert_touches_few_rows(scans: list[dict[str, Any]], most: int) -> None:
    assert scans, "the plan reads no jobs at all"
    for scan in scans:
        assert scan["Node Type"] != "Seq Scan", scan
        visited = scan["Actual Rows"] * scan["Actual Loops"] + scan.get("Rows Removed by Filter", 0)
        assert visited <= most, f"{scan['Node Type']} on {scan.get('Index Name')} visited {visited} rows"


@pytest.fixture
async def stale_statistics(scheduler, options):
    """BACKLOG Enqueued jobs, analyzed, then most of them finished behind the statistics' back."""
    for _ in range(BACKLOG // 1000):
        await scheduler.schedule_batch([(Noop, Noop.Parameters()) for _ in range(1000)])
    schema = options.schema_name
    with psycopg.connect(options.connection_string, autocommit=True) as connection:
        connection.execute(f"ANALYZE {schema}.jobs")
        connection.execute(
            f"UPDATE {schema}.jobs SET state = 'Succeeded', finished_at = %(now)s, state_changed_at = %(now)s"
            f" WHERE id IN (SELECT id FROM {schema}.jobs ORDER BY id LIMIT %(count)s)",
            {"now": NOW, "count": BACKLOG - 100},
        )
    return options


@pytest.mark.parametrize("limits", [{}, {"tenant_concurrency_limit": 60}, {"queue_concurrency_limits": {"default": 60}}],
                         ids=["no limits", "tenant limit", "queue limit"])
@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_a_claim_skips_no_finished_jobs(stale_statistics, store, generic, limits):
    store.options = store.options.model_copy(update=limits)
    params = store._claim_params("me", 10, None, durable=True)
    with psycopg.connect(stale_statistics.connection_string, autocommit=True) as connection:
        scans = _plan(connection, store.queries["claim_jobs"], params, generic)
    # It reads 4 x limit candidates (room to skip another claim's locks), never the finished jobs.
    _assert_touches_few_rows(scans, most=50)


@pytest.mark.parametrize("query", ["finish_jobs", "finish_and_claim"])
@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_recording_outcomes_reads_only_those_jobs(stale_statistics, store, generic, query):
    schema = stale_statistics.schema_name
    with psycopg.connect(stale_statistics.connection_string, autocommit=True) as connection:
        # Other servers run most of the rest of the backlog; this one ran ten jobs; 50 wait.
        connection.execute(
            f"UPDATE {schema}.jobs SET state = 'Processing', server_id = 'other' WHERE id IN"
            f" (SELECT id FROM {schema}.jobs WHERE state = 'Enqueued' ORDER BY id LIMIT 50)")
        ids = [row[0] for row in connection.execute(
            f"UPDATE {schema}.jobs SET server_id = 'me' WHERE id IN"
            f" (SELECT id FROM {schema}.jobs WHERE state = 'Processing' ORDER BY id DESC LIMIT 10) RETURNING id")]
        params = {
            "ids": ids, "states": ["Succeeded"] * 10, "run_ats": [None] * 10, "attempts": [0] * 10,
            "errors": [None] * 10, "reasons": ["succeeded"] * 10, "runs": [0] * 10, "server_id": "me", "now": NOW,
            "expires_at": NOW + timedelta(days=1), "channel": store.channel,
            **store._claim_params("me", 10, None, durable=True),  # the claim's, in finish_and_claim
            "now": NOW,
        }
        scans = _plan(connection, store.queries[query], params, generic)
    _assert_touches_few_rows(scans, most=50)


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_promoting_due_jobs_reads_only_the_due_ones(stale_statistics, store, generic):
    schema = stale_statistics.schema_name
    with psycopg.connect(stale_statistics.connection_string, autocommit=True) as connection:
        # Thousands of delayed jobs, ten of them due.
        connection.execute(
            f"UPDATE {schema}.jobs SET state = 'Scheduled', run_at = %(now)s + id * interval '1 minute'"
            f" WHERE state <> 'Enqueued'", {"now": NOW})
        connection.execute(
            f"UPDATE {schema}.jobs SET run_at = %(now)s - interval '1 second'"
            f" WHERE id IN (SELECT id FROM {schema}.jobs WHERE state = 'Scheduled' ORDER BY id LIMIT 10)",
            {"now": NOW})
        params = {"now": NOW, "limit": 1000, "channel": store.channel}
        scans = _plan(connection, store.queries["promote_due_jobs"], params, generic)
    _assert_touches_few_rows(scans, most=30)


@pytest.fixture
async def analyzed_flood(scheduler, options):
    """One tenant's ten thousand Enqueued jobs, analyzed (as the engine's statistics
    loop has the table analyzed after such a burst: store.analyze_jobs_if_stale)."""
    for _ in range(10):
        await scheduler.schedule_batch([(Noop, Noop.Parameters()) for _ in range(1000)], tenant_id="flood")
    with psycopg.connect(options.connection_string, autocommit=True) as connection:
        connection.execute(f"ANALYZE {options.schema_name}.jobs")
    return options


@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
async def test_a_claim_reads_only_the_first_jobs_of_a_flooding_tenants_line(analyzed_flood, store, generic):
    """Not the whole line, then a sort (the plan on statistics taken before the
    burst): every claim beside a flood of 10,000 cost 3-4 ms more."""
    params = store._claim_params("me", 2, None, durable=True)
    with psycopg.connect(analyzed_flood.connection_string, autocommit=True) as connection:
        scans = _plan(connection, store.queries["claim_jobs"], params, generic)
    _assert_touches_few_rows(scans, most=50)
