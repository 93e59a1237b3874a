"""Scenario-specific checks of one job, beyond "its expected final state, run once".

Each rule returns a problem (counted as a mismatch) or None. A scenario whose
fault never happened fails itself instead (see scenarios_kube.py), so that it
cannot pass without testing anything.
"""

from __future__ import annotations

import time

from tests.proofs.harness import Context, Rule, Tracked
from tests.proofs.records import Execution
from tests.proofs.truth import StoredJob, job_ids_of_recurring


def deleted_once(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
    """A run cancelled by deleting its resource ends Deleted, with one history row,
    and no failed attempt or retry recorded in between."""
    states = row.states()
    if states.count("Deleted") != 1 or states[-1] != "Deleted":
        return f"Deleted rows: {states.count('Deleted')}, last state {states[-1] if states else None}"
    if "Failed" in states or "Scheduled" in states:
        return f"history passes through Failed/Scheduled: {' -> '.join(states)}"
    return None


def work_stopped(deleted_at: float) -> Rule:
    """A deleted job's work is stopped: no execution completes, none still works."""
    def rule(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
        if any(r.completed for r in runs):
            return "its work completed although it was deleted"
        still = [r for r in runs if r.outcome is None and r.last > time.time() - 1.0]
        if still:
            return f"{len(still)} execution(s) still working {time.time() - deleted_at:.0f} s after the deletion"
        late = [r for r in runs if r.start > deleted_at]
        if late:
            return f"{len(late)} execution(s) started after the deletion"
        return None
    return rule


def failed_once_with(error_type: str | None) -> Rule:
    """The fault shows in the history as a failed attempt with a reason (of `error_type`, if given)."""
    def rule(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
        failed = [r for r in row.history if r.state in ("Scheduled", "Failed") and r.error_type]
        if not failed:
            return "no failed attempt in its history says what happened"
        if error_type is not None and not any(r.error_type == error_type for r in failed):
            return f"failed attempts say {[r.error_type for r in failed]}, not {error_type}"
        return None
    return rule


def no_attempt_used(ctx: Context) -> Rule:
    """An eviction is no failure: the attempt counter stays 0 and the resource shows 1 attempt."""
    def rule(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
        if row.attempt != 0 or any(r.state in ("Scheduled", "Failed") for r in row.history):
            return f"an attempt was used: attempt {row.attempt}, history {' -> '.join(row.states())}"
        body = ctx.cluster.background_job(ctx.namespace, job.resource) or {}
        attempts = (body.get("status") or {}).get("attempts")
        if attempts != 1:
            return f"status.attempts {attempts}, expected 1"
        return None
    return rule


def history_shows_every_run(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
    """DESIGN "Guarantees": an execution again after a loss (an evicted pod's replacement)
    shows in the history as a run of its own."""
    claims = row.states().count("Processing")
    return f"executed {len(runs)} times, its history shows {claims} run(s)" if len(runs) > claims else None


def no_suspended_leftover(ctx: Context) -> Rule:
    """No Job of the job's is left suspended (the one whose operator died before its Secret)."""
    def rule(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
        jobs = ctx.cluster.jobs(ctx.namespace, f"jobs.craft.dev/job-id={job.job_id}")
        left = [j["metadata"]["name"] for j in jobs
                if (j.get("spec") or {}).get("suspend") and not j["metadata"].get("deletionTimestamp")]
        return f"Jobs left suspended: {left}" if left else None
    return rule


def fired_once(ctx: Context, recurring_id: str) -> Rule:
    def rule(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
        fired = job_ids_of_recurring(ctx.database_url, recurring_id)
        return None if len(fired) == 1 else f"{len(fired)} jobs fired for one trigger: {fired}"
    return rule


def injected_kinds(ctx: Context) -> set[str]:
    """The kinds of API fault the proxy injected so far ("500", "409", "timeout")."""
    return {kind.split("-")[0] for kind, count in ctx.cluster.proxy.injected.items() if count}


def attempt_used_by(error_types: tuple[str, ...]) -> Rule:
    """A failed attempt caused by the API or its transport, not by the job
    (docs/operator.md: API errors are retried and never use an attempt)."""
    def rule(job: Tracked, row: StoredJob, runs: list[Execution]) -> str | None:
        used = [r.error_type for r in row.history if r.state in ("Scheduled", "Failed") and r.error_type in error_types]
        return f"attempt(s) used by {', '.join(used)}" if used else None
    return rule
