"""Turns how a run ended into the job's next state: pure, so it is unit-tested.

exit 0 -> Succeeded; a retryable failure with attempts left -> Scheduled at
now + backoff; otherwise -> Failed, or Deleted when the job's policy says so
for attempts that ran out (Hangfire's OnAttemptsExceeded = Delete). A run its engine interrupted (a shutdown,
or the engine lost PostgreSQL) goes back to Enqueued without using an
attempt, whatever its exit code: the job did nothing wrong.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from craft_jobs_runner import EXIT_CANCELLED, EXIT_NON_RETRYABLE, EXIT_SUCCEEDED

EXIT_KILLED = 137  # 128 + SIGKILL

from craft_jobs.backoff import AttemptsExceeded, RetryPolicy, next_delay, should_retry
from craft_jobs.engine.executor import ExecutionResult
from craft_jobs.states import JobState
from craft_jobs.store.models import ClaimedJob, Outcome


def decide_outcome(
    job: ClaimedJob,
    result: ExecutionResult,
    now: datetime,
    *,
    interrupted: str | None = None,
    rng: random.Random | None = None,
) -> Outcome:
    """`interrupted`: why the engine ended the run, if it did (see ExecutionResult)."""
    error = _error_record(result)
    if result.exit_code == EXIT_SUCCEEDED and not result.timed_out:
        return Outcome(job.id, job.runs, JobState.SUCCEEDED, job.attempt, "succeeded", error=error)
    interrupted = interrupted or result.interrupted
    if interrupted and not result.timed_out:
        reason = f"requeued without using an attempt: {interrupted}"
        return Outcome(job.id, job.runs, JobState.ENQUEUED, job.attempt, reason, error=error)
    # enable_automatic_retry was applied when the job was stored: its row says what happens.
    policy = RetryPolicy.from_row(job.max_attempts, job.retry_policy)
    non_retryable = result.exit_code == EXIT_NON_RETRYABLE
    exit_code = None if result.exit_code in (None, 0) else result.exit_code
    if should_retry(policy, job.attempt, exit_code, non_retryable):
        delay = next_delay(policy, job.attempt, rng)
        reason = f"retry {job.attempt + 1} of {policy.max_attempts} in {delay.total_seconds():.3g} s"
        return Outcome(job.id, job.runs, JobState.SCHEDULED, job.attempt + 1, reason, run_at=now + delay, error=error)
    if non_retryable or (exit_code is not None and exit_code in policy.non_retryable_exit_codes):
        return Outcome(job.id, job.runs, JobState.FAILED, job.attempt, "failed: not retryable", error=error)
    ran_out = ": retries are off for this job" if policy.max_attempts == 0 else f" after {job.attempt + 1} attempts"
    if policy.on_attempts_exceeded is AttemptsExceeded.DELETE:
        reason = f"deleted{ran_out} (on_attempts_exceeded: Delete)"
        return Outcome(job.id, job.runs, JobState.DELETED, job.attempt, reason, error=error)
    return Outcome(job.id, job.runs, JobState.FAILED, job.attempt, f"failed{ran_out}", error=error)


def shutdown_reason(exit_code: int | None, grace_seconds: float) -> str:
    """What the history says of a run stopped because its engine stopped."""
    if exit_code == EXIT_CANCELLED:
        return "its engine stopped"  # the error says more (the operator leaves its Job running)
    if exit_code == EXIT_KILLED:
        return f"its engine stopped; the run did not stop within its {grace_seconds:g} s grace and was killed"
    return f"its engine stopped; the run was asked to stop and ended with exit code {exit_code}"


def _error_record(result: ExecutionResult) -> dict[str, Any] | None:
    if result.error is None and result.exit_code in (0, None) and not result.executor_ref:
        return None
    record: dict[str, Any] = {"exit_code": result.exit_code}
    if result.executor_ref:
        record["executor_ref"] = result.executor_ref
    if result.error:
        record.update(
            type=str(result.error.get("type", "")),
            message=str(result.error.get("message", "")),
            stack=str(result.error.get("stack", "")),
        )
    return record
