import random

import pytest
from datetime import datetime, timedelta, timezone

from craft_jobs.engine.executor import ExecutionResult
from craft_jobs.engine.outcomes import decide_outcome, shutdown_reason
from craft_jobs.states import JobState
from craft_jobs.store.models import ClaimedJob

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def job(attempt=0, max_attempts=3, retry_policy=None):
    return ClaimedJob(
        id=1, job_type="x", queue="default", parameters={}, tenant_id="", user_id=None, metadata={},
        attempt=attempt, runs=attempt + 1, max_attempts=max_attempts, retry_policy=retry_policy,
        timeout_seconds=None, image=None, scheduled_for=NOW, created_at=NOW, started_at=NOW,
        recurring_id=None, cr_namespace=None, cr_name=None, cr_uid=None,
    )


FAILED = ExecutionResult(1, {"type": "RuntimeError", "message": "boom", "stack": "..."}, "pid:1")


def test_success():
    outcome = decide_outcome(job(), ExecutionResult(0), NOW)
    assert outcome.state is JobState.SUCCEEDED and outcome.error is None


def test_retryable_failure_is_scheduled_with_backoff_and_the_next_attempt():
    outcome = decide_outcome(job(attempt=1, retry_policy={"base_seconds": 10, "max_seconds": 100, "jitter": 0}), FAILED, NOW)
    assert outcome.state is JobState.SCHEDULED and outcome.attempt == 2
    assert outcome.run_at == NOW + timedelta(seconds=20)
    assert outcome.error["message"] == "boom" and outcome.error["exit_code"] == 1


def test_long_backoffs_are_possible():
    policy = {"base_seconds": 3600, "max_seconds": 86400, "jitter": 0}
    outcome = decide_outcome(job(attempt=3, max_attempts=5, retry_policy=policy), FAILED, NOW)
    assert outcome.run_at - NOW == timedelta(hours=8)


def test_no_attempts_left_fails():
    outcome = decide_outcome(job(attempt=3, max_attempts=3), FAILED, NOW, rng=random.Random(1))
    assert outcome.state is JobState.FAILED and outcome.reason == "failed after 4 attempts"


def test_non_retryable_exit_code_fails_at_once():
    outcome = decide_outcome(job(), ExecutionResult(3, {"type": "NonRetryableError", "message": "no"}), NOW)
    assert outcome.state is JobState.FAILED and outcome.reason == "failed: not retryable"
    custom = decide_outcome(job(retry_policy={"non_retryable_exit_codes": [42]}), ExecutionResult(42), NOW)
    assert custom.state is JobState.FAILED


def test_a_job_stored_without_retries_fails_at_once():
    outcome = decide_outcome(job(max_attempts=0), FAILED, NOW)
    assert outcome.state is JobState.FAILED and outcome.reason == "failed: retries are off for this job"


def test_on_attempts_exceeded_delete_deletes_once_the_retries_ran_out():
    delete = {"on_attempts_exceeded": "Delete"}
    retried = decide_outcome(job(attempt=0, max_attempts=1, retry_policy=delete), FAILED, NOW)
    assert retried.state is JobState.SCHEDULED
    last = decide_outcome(job(attempt=1, max_attempts=1, retry_policy=delete), FAILED, NOW)
    assert last.state is JobState.DELETED and last.error["message"] == "boom"
    assert last.reason == "deleted after 2 attempts (on_attempts_exceeded: Delete)"
    at_once = decide_outcome(job(max_attempts=0, retry_policy=delete), FAILED, NOW)
    assert at_once.reason == "deleted: retries are off for this job (on_attempts_exceeded: Delete)"


def test_a_failure_marked_not_retryable_stays_failed_under_delete():
    outcome = decide_outcome(job(retry_policy={"on_attempts_exceeded": "Delete"}), ExecutionResult(3), NOW)
    assert outcome.state is JobState.FAILED and outcome.reason == "failed: not retryable"


def test_timeout_is_a_retryable_failure():
    outcome = decide_outcome(job(), ExecutionResult(143, {"type": "Timeout", "message": "late"}, timed_out=True), NOW,
                             interrupted=shutdown_reason(143, 10))
    assert outcome.state is JobState.SCHEDULED


@pytest.mark.parametrize(("exit_code", "how"), [
    (143, ""),
    (137, "; the run did not stop within its 10 s grace and was killed"),
    (1, "; the run was asked to stop and ended with exit code 1"),
])
def test_stopped_by_shutdown_goes_back_to_the_queue_without_using_an_attempt(exit_code, how):
    outcome = decide_outcome(job(attempt=2, max_attempts=0), ExecutionResult(exit_code), NOW,
                             interrupted=shutdown_reason(exit_code, 10))
    assert outcome.state is JobState.ENQUEUED and outcome.attempt == 2
    assert outcome.reason == f"requeued without using an attempt: its engine stopped{how}"


def test_a_run_its_engine_fenced_goes_back_to_the_queue_without_using_an_attempt():
    result = ExecutionResult(137, interrupted="its engine could not reach PostgreSQL for 6 s")
    outcome = decide_outcome(job(attempt=0, max_attempts=0), result, NOW)
    assert outcome.state is JobState.ENQUEUED and outcome.attempt == 0
    assert outcome.reason == "requeued without using an attempt: its engine could not reach PostgreSQL for 6 s"


def test_a_run_that_succeeded_before_its_interruption_counts_as_succeeded():
    outcome = decide_outcome(job(), ExecutionResult(0, interrupted="a fence came late"), NOW)
    assert outcome.state is JobState.SUCCEEDED
