import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from craft_jobs_runner import ContextError, JobCancelledError, JobContext

FULL_ENV = {
    "CRAFT_JOB_ID": "0b7c5a4e-job",
    "CRAFT_JOB_TYPE": "send-invoice",
    "CRAFT_JOB_ATTEMPT": "2",
    "CRAFT_TENANT_ID": "acme",
    "CRAFT_USER_ID": "system:serviceaccount:billing:api",
    "CRAFT_JOB_CREATED_AT": "2024-05-01T12:00:00Z",
    "CRAFT_JOB_SCHEDULED_FOR": "2024-05-01T14:00:00+02:00",
    "CRAFT_JOB_METADATA": '{"source": "crd", "labels": {"team": "billing"}}',
    "UNRELATED": "ignored",
}


def test_every_variable_of_the_pod_contract_is_read():
    before = datetime.now(UTC)
    context = JobContext.from_environment(FULL_ENV)
    assert context.job_id == "0b7c5a4e-job"
    assert context.job_type == "send-invoice"
    assert context.attempt == 2
    assert context.tenant_id == "acme"
    assert context.user_id == "system:serviceaccount:billing:api"
    assert context.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert context.scheduled_for == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert context.scheduled_for.utcoffset() == timedelta(hours=2)
    assert context.metadata == {"source": "crd", "labels": {"team": "billing"}}
    assert before <= context.started_at <= datetime.now(UTC)


def test_only_id_and_type_are_required():
    context = JobContext.from_environment({"CRAFT_JOB_ID": "1", "CRAFT_JOB_TYPE": "t", "CRAFT_TENANT_ID": ""})
    assert (context.attempt, context.tenant_id, context.user_id) == (0, None, None)
    assert (context.created_at, context.scheduled_for, context.metadata) == (None, None, {})


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("CRAFT_JOB_ID", None, "is required"),
        ("CRAFT_JOB_ID", "  ", "is required"),
        ("CRAFT_JOB_TYPE", None, "is required"),
        ("CRAFT_JOB_ATTEMPT", "two", "non-negative integer"),
        ("CRAFT_JOB_ATTEMPT", "-1", "non-negative integer"),
        ("CRAFT_JOB_ATTEMPT", "1.0", "non-negative integer"),
        ("CRAFT_JOB_ATTEMPT", "\u0663", "non-negative integer"),  # an Arabic-Indic digit
        ("CRAFT_JOB_CREATED_AT", "yesterday", "ISO 8601"),
        ("CRAFT_JOB_CREATED_AT", "2024-05-01T12:00:00", "UTC offset"),
        ("CRAFT_JOB_SCHEDULED_FOR", "2024-13-01T00:00:00Z", "ISO 8601"),
        ("CRAFT_JOB_SCHEDULED_FOR", "2024-05-01", "UTC offset"),
        ("CRAFT_JOB_METADATA", "{not json", "not valid JSON"),
        ("CRAFT_JOB_METADATA", '["a", "b"]', "JSON object, got list"),
    ],
)
def test_a_malformed_variable_is_named(variable, value, reason):
    env = dict(FULL_ENV)
    if value is None:
        del env[variable]
    else:
        env[variable] = value
    with pytest.raises(ContextError, match=reason) as caught:
        JobContext.from_environment(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"job_id": ""}, "job_id"),
        ({"job_type": None}, "job_type"),
        ({"attempt": -1}, "attempt"),
        ({"attempt": True}, "attempt"),
        ({"tenant_id": 5}, "tenant_id"),
        ({"created_at": datetime(2024, 1, 1)}, "created_at"),
        ({"scheduled_for": "2024-01-01T00:00:00Z"}, "scheduled_for"),
        ({"metadata": ["a"]}, "metadata"),
    ],
)
def test_constructor_arguments_are_validated(fields, field):
    arguments = {"job_id": "1", "job_type": "t", **fields}
    with pytest.raises(ContextError) as caught:
        JobContext(**arguments)
    assert caught.value.variable == field


def test_the_context_is_frozen():
    context = JobContext(job_id="1", job_type="t")
    with pytest.raises(AttributeError):
        context.attempt = 3  # type: ignore[misc]


def test_an_explicit_started_at_is_kept():
    started = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert JobContext(job_id="1", job_type="t", started_at=started).started_at == started


async def test_cancellation_token_follows_the_event():
    event = asyncio.Event()
    context = JobContext(job_id="1", job_type="t", cancel_event=event)
    assert not context.cancelled
    context.raise_if_cancelled()
    waiter = asyncio.ensure_future(context.wait_cancelled())
    await asyncio.sleep(0)
    assert not waiter.done()
    event.set()
    await asyncio.wait_for(waiter, timeout=5)
    assert context.cancelled
    with pytest.raises(JobCancelledError):
        context.raise_if_cancelled()


async def test_a_context_without_cancel_event_is_never_cancelled():
    context = JobContext(job_id="1", job_type="t")
    assert not context.cancelled
    context.raise_if_cancelled()
    waiter = asyncio.ensure_future(context.wait_cancelled())
    done, _ = await asyncio.wait({waiter}, timeout=0.01)
    assert not done
    waiter.cancel()


def test_from_environment_takes_the_cancel_event():
    event = asyncio.Event()
    context = JobContext.from_environment(FULL_ENV, cancel_event=event)
    event.set()
    assert context.cancelled


def test_log_fields_are_the_job_identity():
    context = JobContext.from_environment(FULL_ENV)
    assert context.log_fields == {
        "job_id": "0b7c5a4e-job",
        "job_type": "send-invoice",
        "attempt": 2,
        "tenant_id": "acme",
        "user_id": "system:serviceaccount:billing:api",
    }
    assert context.logger.logger.name == "craft_jobs_runner.jobs.send-invoice"
