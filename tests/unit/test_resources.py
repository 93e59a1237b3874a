from datetime import timedelta

import pytest

from craft_jobs.errors import ValidationError
from craft_jobs.resources import parse_duration, parse_time, resource_ref, retry_from_spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("10m", timedelta(minutes=10)), ("1h30m", timedelta(minutes=90)), ("1d", timedelta(days=1))],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "m", "1x", "-5m", "1m1h"])
def test_bad_durations_name_the_field(text):
    with pytest.raises(ValidationError) as raised:
        parse_duration(text)
    assert raised.value.field == "spec.delay"


def test_times_need_an_offset():
    assert parse_time("2026-12-01T09:00:00Z", "spec.runAt").utcoffset() == timedelta(0)
    with pytest.raises(ValidationError, match="no time zone offset"):
        parse_time("2026-12-01T09:00:00", "spec.runAt")
    with pytest.raises(ValidationError, match="spec.runAt"):
        parse_time("tomorrow", "spec.runAt")


def _doc(**overrides):
    doc = {"apiVersion": "jobs.craft.dev/v1alpha1", "kind": "BackgroundJob", "metadata": {"name": "report"}, "spec": {"jobType": "hello"}}
    doc.update(overrides)
    return doc


def test_resource_ref_gives_local_documents_a_stable_uid():
    ref = resource_ref(_doc(), "team-a")
    assert (ref.kind, ref.namespace, ref.name) == ("BackgroundJob", "team-a", "report")
    assert ref.uid == resource_ref(_doc(), "team-a").uid


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"apiVersion": "batch/v1"}, "apiVersion"),
        ({"kind": "CronJob"}, "kind"),
        ({"metadata": {"name": "Bad_Name"}}, "metadata.name"),
        ({"spec": None}, "spec"),
    ],
)
def test_resource_ref_errors_name_the_field(overrides, field):
    with pytest.raises(ValidationError) as raised:
        resource_ref(_doc(**overrides))
    assert raised.value.field == field


def test_retry_block_errors_use_yaml_paths():
    attempts, policy = retry_from_spec({"maxAttempts": 2, "backoff": {"baseSeconds": 5, "maxSeconds": 60}}, "spec")
    assert attempts == 2 and policy.base_seconds == 5 and policy.max_seconds == 60
    with pytest.raises(ValidationError) as raised:
        retry_from_spec({"maxAttempts": 11}, "spec")
    assert raised.value.field == "spec.retry.maxAttempts"
    with pytest.raises(ValidationError) as raised:
        retry_from_spec({"backoff": {"baseSeconds": 100, "maxSeconds": 10}}, "spec.jobTemplate")
    assert raised.value.field == "spec.jobTemplate.retry.backoff.maxSeconds"
