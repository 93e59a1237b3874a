"""Turns how a run ended into the job's next state: pure, so it is unit-tested.

exit 0 -> Succeeded; a retryable failure with attempts left -> Scheduled at
now + backoff; otherwise -> Failed. A run its engine interrupted (a shutdown,
or the engine lost PostgreSQL) goes back to Enqueued without using an
attempt, whatever its exit code: the job did nothing wrong.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from craft_jobs_runner import EXIT_CANCELLED, EXIT_NON_RETRYABLE, EXIT_SUCCEEDED

EXIT_KILLED = 137  # 128 + SIGKILL

from craft_jobs.backoff import RetryPolicy, next_delay, should_retry
from craft_jobs.engine.executor import ExecutionResult
from craft_jobs.states import JobState
from craft_jobs.store.models import ClaimedJob, Outcome


def retry_policy_of(job: ClaimedJob, automatic_retry: bool) -> RetryPolicy:
    stored: dict[str, Any] = job.retry_policy or {}
    return RetryPolicy(
        max_attempts=job.max_attempts if automatic_retry else 0,
        base_seconds=stored.get("base_seconds", 10.0),
        max_seconds=stored.get("max_seconds", 3600.0),
        jitter=stored.get("jitter", 0.2),
        non_retryable_exit_codes=frozenset(stored.get("non_retryable_exit_codes", ())),
    )


def decide_outcome(
    job: ClaimedJob,
    result: ExecutionResult,
    now: datetime,
    *,
    automatic_retry: bool = True,
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
    policy = retry_policy_of(job, automatic_retry)
    non_retryable = result.exit_code == EXIT_NON_RETRYABLE
    exit_code = None if result.exit_code in (None, 0) else result.exit_code
    if should_retry(policy, job.attempt, exit_code, non_retryable):
        delay = next_delay(policy, job.attempt, rng)
        reason = f"retry {job.attempt + 1} of {policy.max_attempts} in {delay.total_seconds():.3g} s"
        return Outcome(job.id, job.runs, JobState.SCHEDULED, job.attempt + 1, reason, run_at=now + delay, error=error)
    if non_retryable or (exit_code is not None and exit_code in policy.non_retryable_exit_codes):
        reason = "failed: not retryable"
    elif policy.max_attempts == 0:
        reason = "failed: retries are off for this job"
    else:
        reason = f"failed after {job.attempt + 1} attempts"
    return Outcome(job.id, job.runs, JobState.FAILED, job.attempt, reason, error=error)


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
