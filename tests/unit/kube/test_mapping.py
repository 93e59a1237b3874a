"""CR <-> store mapping: specs to scheduler arguments, rows to `.status`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import yaml

from craft_jobs.errors import ValidationError
from craft_jobs.kube.manifest import KUBE_METADATA_KEY
from craft_jobs.kube.mapping import (
    JobSnapshot,
    background_job_status,
    cr_field,
    invalid_spec_condition,
    job_request,
    parse_delay,
    recurring_job_status,
    recurring_request,
    status_fingerprint,
)
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition, JobState
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "crds" / "samples"

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, expected", [
    ("90s", timedelta(seconds=90)), ("10m", timedelta(minutes=10)), ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)), ("1h30m", timedelta(hours=1, minutes=30)), ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
])
def test_parse_delay(text, expected):
    assert parse_delay(text) == expected


@pytest.mark.parametrize("text", ["", "10", "m", "1m1h", "1.5h", "-1m", None, "9999999d"])
def test_parse_delay_refuses(text):
    with pytest.raises(ValidationError) as error:
        parse_delay(text)
    assert cr_field(error.value.field) == "spec.delay"


def test_minimal_spec():
    request = job_request({"jobType": "hello"}, default_image="img", now=T0)
    assert request.job_type == "hello" and request.parameters == {} and request.at is None
    assert request.retry is None and request.max_attempts is None and request.metadata == {}


def test_delay_counts_from_creation_and_past_times_run_at_once():
    request = job_request({"jobType": "x", "delay": "10m"}, created_at=T0, now=T0 + timedelta(minutes=1), default_image="i")
    assert request.at == T0 + timedelta(minutes=10)
    late = job_request({"jobType": "x", "delay": "10m"}, created_at=T0, now=T0 + timedelta(hours=1), default_image="i")
    assert late.at is None
    at = job_request({"jobType": "x", "runAt": "2030-01-01T03:00:00Z"}, now=T0, default_image="i")
    assert at.at == datetime(2030, 1, 1, 3, tzinfo=timezone.utc)


@pytest.mark.parametrize("spec, field", [
    ({"jobType": "x", "runAt": "tomorrow"}, "spec.runAt"),
    ({"jobType": "x", "runAt": "2030-01-01T03:00:00"}, "spec.runAt"),
    ({"jobType": "x", "delay": "1m", "runAt": "2030-01-01T03:00:00Z"}, "spec.delay"),
    ({"jobType": "x", "continueAfter": {"name": "p"}, "delay": "1m"}, "spec.continueAfter.name"),
    ({"jobType": "x", "continueAfter": {"name": "p", "on": "Sometimes"}}, "spec.continueAfter.name"),
    ({"jobType": "x", "parameters": [1]}, "spec.parameters"),
    ({}, "spec.jobType"),
    ({"jobType": "x", "retry": {"maxAttempts": 11, "backoff": {"baseSeconds": 1}}}, "spec.retry.maxAttempts"),
    ({"jobType": "x", "retry": {"backoff": {"baseSeconds": 10, "maxSeconds": 5}}}, "spec.retry.backoff.maxSeconds"),
    ({"jobType": "x", "retry": {"nonRetryableExitCodes": [0]}}, "spec.retry.nonRetryableExitCodes"),
    ({"jobType": "x", "retry": {"onAttemptsExceeded": "Requeue"}}, "spec.retry.onAttemptsExceeded"),
    ({"jobType": "x", "metadata": {KUBE_METADATA_KEY: "x"}}, "spec.metadata"),
])
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(ValidationError) as error:
        job_request(spec, now=T0, default_image="img")
    assert cr_field(error.value.field) == field


def test_missing_image_without_default():
    with pytest.raises(ValidationError) as error:
        job_request({"jobType": "hello"}, now=T0)
    assert cr_field(error.value.field) == "spec.image"
    assert job_request({"jobType": "hello", "image": "mine"}, now=T0).image == "mine"


def test_retry_pod_and_owner_are_kept():
    spec = yaml.safe_load((SAMPLE_DIR / "backgroundjob-retry-and-pod.yaml").read_text())["spec"]
    request = job_request(spec, now=T0, default_image="img", owner={"kind": "BackgroundJob", "name": "n", "uid": "u"})
    assert request.max_attempts == 5
    assert request.retry.base_seconds == 2 and request.retry.max_seconds == 60 and request.retry.jitter == 0.2
    assert request.retry.non_retryable_exit_codes == {3, 42}
    assert request.timeout_seconds == 300 and request.queue == "default"
    block = request.metadata[KUBE_METADATA_KEY]
    assert block["pod"] == spec["pod"] and block["owner"]["uid"] == "u"


def test_on_attempts_exceeded_alone_leaves_max_attempts_to_the_job_class():
    request = job_request({"jobType": "x", "retry": {"onAttemptsExceeded": "Delete"}}, now=T0, default_image="img")
    assert request.max_attempts is None and request.retry.max_attempts is None
    assert request.retry.on_attempts_exceeded == "Delete" and request.retry.max_seconds == 3600


def test_continuation_sample():
    docs = list(yaml.safe_load_all((SAMPLE_DIR / "backgroundjob-continuation.yaml").read_text()))
    request = job_request(docs[1]["spec"], now=T0, default_image="img")
    assert request.continue_after == "slow-import"
    assert request.continue_on is ContinuationCondition.FINISHED


def test_recurring_samples_map():
    spec = yaml.safe_load((SAMPLE_DIR / "recurringjob-cron.yaml").read_text())["spec"]
    request = recurring_request(spec, default_image="img")
    assert request.cron == "0 9 * * 1-5" and request.time_zone == "Europe/Berlin"
    assert request.concurrency_policy is ConcurrencyPolicy.FORBID and request.starting_deadline_seconds == 600
    assert request.job.max_attempts == 2 and request.suspend is False
    spec = yaml.safe_load((SAMPLE_DIR / "recurringjob-interval.yaml").read_text())["spec"]
    assert recurring_request(spec, default_image="img").interval_minutes == 15


def test_recurring_fields_map_to_their_place():
    assert cr_field("cron", recurring=True) == "spec.schedule"
    assert cr_field("time_zone", recurring=True) == "spec.timeZone"
    assert cr_field("parameters", recurring=True) == "spec.jobTemplate.parameters"
    assert cr_field("tenant_id") == "metadata.namespace"


def snapshot(**overrides) -> JobSnapshot:
    values = dict(
        id=7, state=JobState.PROCESSING, attempt=0, runs=1, tenant_id="acme", user_id="user-a",
        started_at=T0, finished_at=None, state_changed_at=T0, last_error=None,
    )
    values.update(overrides)
    return JobSnapshot(**values)


def test_status_of_a_running_job():
    status = background_job_status(snapshot(), T0, generation=1)
    assert status["phase"] == "Processing" and status["jobId"] == "7" and status["attempts"] == 1
    assert status["kubernetesJobName"] == "cj-7-1" and status["startedAt"] == "2026-03-01T12:00:00Z"
    assert status["tenant"] == "acme" and status["user"] == "user-a" and status["observedGeneration"] == 1
    assert [c["type"] for c in status["conditions"]] == ["Accepted"]


def test_status_attempts_count_started_runs():
    assert background_job_status(snapshot(state=JobState.ENQUEUED, runs=0), T0)["attempts"] == 0
    assert background_job_status(snapshot(state=JobState.ENQUEUED, runs=0), T0)["kubernetesJobName"] is None
    assert background_job_status(snapshot(state=JobState.SCHEDULED, attempt=1, runs=1), T0)["attempts"] == 1
    assert background_job_status(snapshot(state=JobState.SUCCEEDED, attempt=2, runs=3), T0)["attempts"] == 3


def test_failed_status_carries_the_error_and_a_condition():
    error = {"type": "RuntimeError", "message": "boom", "stack": "...", "exit_code": 1}
    status = background_job_status(snapshot(state=JobState.FAILED, finished_at=T0, last_error=error), T0)
    assert status["lastError"] == {"type": "RuntimeError", "message": "boom", "exitCode": 1}
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["message"] == "boom"
    assert status["finishedAt"] == "2026-03-01T12:00:00Z"


def test_condition_keeps_its_transition_time():
    first = background_job_status(snapshot(), T0)
    later = background_job_status(snapshot(state=JobState.SUCCEEDED), T0 + timedelta(minutes=5), previous=first)
    accepted = next(c for c in later["conditions"] if c["type"] == "Accepted")
    complete = next(c for c in later["conditions"] if c["type"] == "Complete")
    assert accepted["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert complete["lastTransitionTime"] == "2026-03-01T12:05:00Z"


def test_fingerprint_ignores_times_only():
    a = background_job_status(snapshot(), T0)
    b = background_job_status(snapshot(), T0 + timedelta(hours=1))
    assert status_fingerprint(a) == status_fingerprint(b)
    assert status_fingerprint(a) != status_fingerprint(background_job_status(snapshot(state=JobState.SUCCEEDED), T0))


def test_invalid_spec_condition():
    cond = invalid_spec_condition(ValidationError("job_type", "unknown job type 'nope'"), T0, 3)
    assert cond == {
        "type": "Accepted", "status": "False", "reason": "InvalidSpec",
        "message": "spec.jobType: unknown job type 'nope'", "lastTransitionTime": "2026-03-01T12:00:00Z",
        "observedGeneration": 3,
    }


def test_recurring_status():
    row = SimpleNamespace(last_run_at=T0, next_run_at=T0 + timedelta(hours=1), paused=False, last_job_id=5,
                          last_job_state=JobState.SUCCEEDED, schedule_error=None)
    status = recurring_job_status(row, T0, 2)
    assert status["lastScheduleTime"] == "2026-03-01T12:00:00Z"
    assert status["nextScheduleTime"] == "2026-03-01T13:00:00Z"
    assert status["lastJob"] == {"jobId": "5", "phase": "Succeeded"}
    assert status["conditions"][0]["reason"] == "Scheduled"
    paused = recurring_job_status(SimpleNamespace(**{**row.__dict__, "paused": True}), T0)
    assert paused["nextScheduleTime"] is None and paused["conditions"][0]["reason"] == "Suspended"
    broken = recurring_job_status(SimpleNamespace(**{**row.__dict__, "schedule_error": "bad"}), T0)
    assert broken["conditions"][0]["status"] == "False" and broken["conditions"][0]["reason"] == "InvalidSchedule"
