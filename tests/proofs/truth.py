"""What PostgreSQL says happened: each job's state and its state history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from tests.support.invariants import rows_breaking_rules

FINAL = ("Succeeded", "Deleted", "Failed")  # Failed is not final in Hangfire's sense, but it is settled


@dataclass
class StateRow:
    state: str
    reason: str | None
    error_type: str | None
    at: datetime


@dataclass
class StoredJob:
    id: int
    state: str
    attempt: int
    runs: int
    executor_ref: str | None
    cr_name: str | None
    state_changed_at: datetime
    history: list[StateRow] = field(default_factory=list)

    def states(self) -> list[str]:
        return [row.state for row in self.history]

    def describe(self) -> str:
        return " -> ".join(f"{r.state}({r.reason or ''}{'; ' + r.error_type if r.error_type else ''})" for r in self.history)


def read_jobs(url: str, ids: list[int]) -> dict[int, StoredJob]:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        jobs = {row[0]: StoredJob(*row) for row in conn.execute(
            "SELECT id, state::text, attempt, runs, executor_ref, cr_name, state_changed_at "
            "FROM craft_jobs.jobs WHERE id = ANY(%s)", (ids,))}
        for job_id, state, reason, data, at in conn.execute(
                "SELECT job_id, state::text, reason, data, created_at FROM craft_jobs.job_states "
                "WHERE job_id = ANY(%s) ORDER BY id", (ids,)):
            # A failed run's row carries its error ({type, message, ...}) as data.
            error_type = data.get("type") if isinstance(data, dict) else None
            jobs[job_id].history.append(StateRow(state, reason, error_type, at))
    return jobs


def rows_breaking_state_rules(url: str) -> list[str]:
    """Rows of the scenario's database that break their state's rules (tests/support/invariants.py)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return rows_breaking_rules(conn, "craft_jobs")


def job_ids_of_resources(url: str, namespace: str, names: list[str]) -> dict[str, int]:
    """BackgroundJob name -> job id, for those stored so far."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return {name: job_id for job_id, name in conn.execute(
            "SELECT id, cr_name FROM craft_jobs.jobs WHERE cr_namespace = %s AND cr_name = ANY(%s)", (namespace, names))}


def states(url: str, ids: list[int]) -> dict[int, str]:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return dict(conn.execute("SELECT id, state::text FROM craft_jobs.jobs WHERE id = ANY(%s)", (ids,)).fetchall())


def job_ids_of_recurring(url: str, recurring_id: str) -> list[int]:
    """The jobs a recurring job fired, oldest first."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return [row[0] for row in conn.execute(
            "SELECT id FROM craft_jobs.jobs WHERE recurring_id = %s ORDER BY id", (recurring_id,))]
