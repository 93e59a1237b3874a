import json
from datetime import datetime, timezone

from craft_jobs.pod_contract import job_environment
from craft_jobs.store.models import ClaimedJob

T0 = datetime(2026, 3, 8, 7, 0, tzinfo=timezone.utc)


def claimed(**overrides):
    values = dict(
        id=42, job_type="hello", queue="default", parameters={"secret": "s3cr3t"}, tenant_id="acme",
        user_id="user-a", metadata={"trace": "abc"}, attempt=2, runs=3, max_attempts=3, retry_policy=None,
        timeout_seconds=None, image=None, scheduled_for=T0, created_at=T0, started_at=T0, recurring_id=None,
        cr_namespace=None, cr_name=None, cr_uid=None,
    )
    values.update(overrides)
    return ClaimedJob(**values)


def test_environment_carries_the_context_but_never_the_parameters():
    env = job_environment(claimed())
    assert env["CRAFT_JOB_ID"] == "42" and env["CRAFT_JOB_TYPE"] == "hello"
    assert env["CRAFT_JOB_ATTEMPT"] == "2"
    assert env["CRAFT_TENANT_ID"] == "acme" and env["CRAFT_USER_ID"] == "user-a"
    assert env["CRAFT_JOB_SCHEDULED_FOR"] == "2026-03-08T07:00:00+00:00"
    assert json.loads(env["CRAFT_JOB_METADATA"]) == {"trace": "abc"}
    assert "s3cr3t" not in json.dumps(env)


def test_no_tenant_or_user_means_no_variable():
    env = job_environment(claimed(tenant_id="", user_id=None))
    assert "CRAFT_TENANT_ID" not in env and "CRAFT_USER_ID" not in env
