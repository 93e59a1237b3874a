"""BackgroundJob and RecurringJob specs -> scheduler requests (kube/spec.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from craft_jobs.errors import ValidationError
from craft_jobs.kube.job_metadata import KUBE_METADATA_KEY, KubeMetadata, Owner
from craft_jobs.kube.spec import background_request, cr_field, job_request, parse_delay, recurring_request
from craft_jobs.states import ConcurrencyPolicy, ContinuationCondition

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "crds" / "samples"

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)



@pytest.mark.parametrize("text, expected", [
    ("90s", timedelta(seconds=90)), ("10m", timedelta(minutes=10)), ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)), ("1h30m", timedelta(hours=1, minutes=30)), ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
])
def test_parse_delay(text, expected):
    assert parse_delay(text) == expected


@pytest.mark.parametrize("text", ["", "10", "m", "1m1h", "1.5h", "-1m", None, "9999999d", "9" * 30 + "d"])
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
    ({"jobType": "x", "metadata": {"blob": "x" * 300_000}}, "spec.metadata"),
    ({"jobType": "x", "metadata": {"note": "\x00"}}, "spec.metadata.note"),
    ({"jobType": "x", "timeoutSeconds": 2**40}, "spec.timeoutSeconds"),
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
    request = job_request(spec, now=T0, default_image="img", owner=Owner("RecurringJob", "n", "u"))
    assert request.max_attempts == 5
    assert request.retry.base_seconds == 2 and request.retry.max_seconds == 60 and request.retry.jitter == 0.2
    assert request.retry.non_retryable_exit_codes == {3, 42}
    assert request.timeout_seconds == 300 and request.queue == "default"
    # The stored form stays the one rows already carry: {"pod": ..., "owner": {"kind", "name", "uid"}}.
    block = request.metadata[KUBE_METADATA_KEY]
    assert block["pod"] == spec["pod"] and block["owner"] == {"kind": "RecurringJob", "name": "n", "uid": "u"}
    assert KubeMetadata.of(request.metadata) == KubeMetadata(pod=spec["pod"], owner=Owner("RecurringJob", "n", "u"))
    assert KubeMetadata.without(request.metadata) == spec.get("metadata", {})


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


def test_background_request_times_a_delay_from_the_creation_timestamp():
    body = {"metadata": {"creationTimestamp": "2026-03-01T12:00:00Z"}, "spec": {"jobType": "x", "delay": "10m"}}
    request = background_request(body, now=T0 + timedelta(minutes=1), default_image="i")
    assert request.created_at == T0 and request.at == T0 + timedelta(minutes=10)
    with pytest.raises(ValidationError) as error:
        background_request({"metadata": {"creationTimestamp": "yesterday"}, "spec": {"jobType": "x"}}, now=T0, default_image="i")
    assert error.value.field == "metadata.creationTimestamp"
