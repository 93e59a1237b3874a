"""The rules a job's row keeps for its state, checked on every row a test
leaves in its database (tests/conftest.py). They were CHECK constraints until
schema version 17, which says why they are not any more."""

from __future__ import annotations

import psycopg

# Each rule as a condition every row must meet.
RULES = {
    "a Processing job names its server": "state <> 'Processing' OR server_id IS NOT NULL",
    "a Scheduled job has its time": "state <> 'Scheduled' OR run_at IS NOT NULL",
    "only a Succeeded or Deleted job expires": "expires_at IS NULL OR state IN ('Succeeded', 'Deleted')",
}


def rows_breaking_rules(conn: psycopg.Connection, schema: str) -> list[str]:
    """One line per row that breaks a rule: the rule, the job's id and state."""
    if conn.execute("SELECT to_regclass(%s)", (f"{schema}.jobs",)).fetchone()[0] is None:
        return []  # no jobs table (a test of the migrations, say)
    broken = []
    for rule, condition in RULES.items():
        rows = conn.execute(
            f"SELECT id, state::text FROM {schema}.jobs WHERE NOT ({condition}) ORDER BY id LIMIT 5").fetchall()
        broken += [f"{rule}: job {job_id} is {state}" for job_id, state in rows]
    return broken
