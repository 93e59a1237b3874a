import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, Field

from craft_jobs_runner import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_NON_RETRYABLE,
    EXIT_SUCCEEDED,
    CancelSignal,
    Job,
    JobContext,
    NonRetryableError,
    RunResult,
    execute,
    execute_with_context,
    service,
)

from .conftest import EVENTS, wait_until


class Recorded(Job):
    job_type = "test-exec-recorded"

    class Parameters(BaseModel):
        invoice_id: int
        amount: float = Field(gt=0)
        tags: list[str] = []

    async def run(self, params, context):
        EVENTS.append(f"run {params.invoice_id} {params.amount} {params.tags}")
        EVENTS.append(
            f"context {context.job_id} {context.attempt} {context.tenant_id} {context.user_id} "
            f"{context.metadata} {context.created_at and context.created_at.isoformat()}"
        )


class Fails(Job):
    job_type = "test-exec-fails"

    async def run(self, params, context):
        raise RuntimeError("the mail server said no")


class GivesUp(Job):
    job_type = "test-exec-gives-up"

    async def run(self, params, context):
        raise NonRetryableError("invoice 7 was deleted")


class PaymentDeclined(Exception):
    pass


class CardExpired(PaymentDeclined):
    pass


class MapsExceptions(Job):
    job_type = "test-exec-maps"
    non_retryable_exceptions = (PaymentDeclined,)

    class Parameters(BaseModel):
        error: str

    async def run(self, params, context):
        raise {"declined": PaymentDeclined, "expired": CardExpired, "other": ValueError}[params.error]("no")


class Sleeps(Job):
    job_type = "test-exec-sleeps"

    async def run(self, params, context):
        EVENTS.append("started")
        try:
            await asyncio.sleep(3600)
        finally:
            EVENTS.append("interrupted")


class Cooperates(Job):
    job_type = "test-exec-cooperates"

    class Parameters(BaseModel):
        how: str

    async def run(self, params, context):
        EVENTS.append("started")
        await context.wait_cancelled()
        EVENTS.append("noticed")
        if params.how == "raise_if_cancelled":
            context.raise_if_cancelled()
        elif params.how == "other-error":
            raise ConnectionResetError("the broker went away during shutdown")
        # how == "return": stops early and returns normally


class Stubborn(Job):
    job_type = "test-exec-stubborn"

    async def run(self, params, context):
        EVENTS.append("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            EVENTS.append("swallowed")  # and returns as if nothing happened


class OwnTimeout(Job):
    job_type = "test-exec-own-timeout"

    async def run(self, params, context):
        async with asyncio.timeout(0):
            await asyncio.sleep(1)


class CancelsItself(Job):
    job_type = "test-exec-cancels-itself"

    async def run(self, params, context):
        raise asyncio.CancelledError()


class Slow(Job):
    job_type = "test-exec-slow"
    timeout_seconds = 1

    async def run(self, params, context):
        await asyncio.sleep(3600)


@service("test-exec-resource")
async def resource(context):
    EVENTS.append("resource opened")
    yield "resource"
    EVENTS.append("resource closed")


class UsesResource(Job):
    job_type = "test-exec-uses-resource"

    async def run(self, params, context):
        await context.services.get("test-exec-resource")
        EVENTS.append("started")
        await asyncio.sleep(3600)


async def run(job_type, params=None, **fields) -> RunResult:
    fields.setdefault("job_id", "job-1")
    return await execute(job_type, {} if params is None else params, **fields)


async def test_success_passes_parameters_and_context(events):
    result = await run(
        "test-exec-recorded",
        {"invoice_id": "42", "amount": 9.5, "tags": ["eu"]},
        job_id="job-42",
        attempt=1,
        tenant_id="acme",
        user_id="user-a",
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        metadata={"source": "api"},
    )
    assert result == RunResult(EXIT_SUCCEEDED, None)
    assert result.succeeded and not result.retryable
    assert events == [
        "run 42 9.5 ['eu']",
        "context job-42 1 acme user-a {'source': 'api'} 2024-05-01T00:00:00+00:00",
    ]


@pytest.mark.parametrize("raw", [b'{"invoice_id": 1, "amount": 2}', '{"invoice_id": 1, "amount": 2}'])
async def test_parameters_may_be_json_text(events, raw):
    assert (await run("test-exec-recorded", raw)).exit_code == EXIT_SUCCEEDED
    assert events[0] == "run 1 2.0 []"


async def test_parameters_may_be_a_model_instance(events):
    params = Recorded.Parameters(invoice_id=3, amount=1)
    assert (await run("test-exec-recorded", params)).exit_code == EXIT_SUCCEEDED


async def test_a_failure_is_retryable_and_carries_type_message_and_stack():
    result = await run("test-exec-fails")
    assert result.exit_code == EXIT_FAILED and result.retryable
    assert result.error.type == "RuntimeError"
    assert result.error.message == "the mail server said no"
    assert 'raise RuntimeError("the mail server said no")' in result.error.stack
    assert result.error.stack.rstrip().endswith("RuntimeError: the mail server said no")


async def test_non_retryable_error_exits_3():
    result = await run("test-exec-gives-up")
    assert result.exit_code == EXIT_NON_RETRYABLE and not result.retryable
    assert result.error.type == "craft_jobs_runner.errors.NonRetryableError"
    assert result.error.message == "invoice 7 was deleted"


@pytest.mark.parametrize(
    ("error", "exit_code", "type_name"),
    [
        ("declined", EXIT_NON_RETRYABLE, f"{__name__}.PaymentDeclined"),
        ("expired", EXIT_NON_RETRYABLE, f"{__name__}.CardExpired"),  # subclasses match too
        ("other", EXIT_FAILED, "ValueError"),
    ],
)
async def test_non_retryable_exceptions_of_the_class(error, exit_code, type_name):
    result = await run("test-exec-maps", {"error": error})
    assert (result.exit_code, result.error.type) == (exit_code, type_name)


async def test_an_unknown_type_is_non_retryable():
    result = await run("test-exec-no-such-type")
    assert result.exit_code == EXIT_NON_RETRYABLE
    assert result.error.type == "craft_jobs_runner.errors.UnknownJobTypeError"
    assert "'test-exec-no-such-type'" in result.error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"amount": 1}, "invoice_id: Field required"),
        ({"invoice_id": "x", "amount": 0}, "invoice_id: Input should be a valid integer"),
        ({"invoice_id": 1, "amount": 0}, "amount: Input should be greater than 0"),
        ({"invoice_id": 1, "amount": 1, "tags": ["a", 5]}, "tags[1]: Input should be a valid string"),
        (b"{not json", "(parameters): Invalid JSON"),
        ("[1, 2]", "(parameters): Input should be an object"),
        ([1, 2], "must be a JSON object (a mapping or JSON text), got list"),
    ],
)
async def test_invalid_parameters_are_non_retryable_and_name_the_field(events, raw, expected):
    result = await run("test-exec-recorded", raw)
    assert result.exit_code == EXIT_NON_RETRYABLE
    assert result.error.type == "craft_jobs_runner.errors.InvalidParametersError"
    assert "job type 'test-exec-recorded'" in result.error.message
    assert expected in result.error.message
    assert events == []  # the job never ran


async def test_every_invalid_field_is_named(events):
    result = await run("test-exec-recorded", {"invoice_id": "x", "amount": -1})
    assert "invoice_id:" in result.error.message and "amount:" in result.error.message


async def test_invalid_context_fields_are_non_retryable():
    result = await run("test-exec-recorded", {"invoice_id": 1, "amount": 1}, attempt=-1)
    assert result.exit_code == EXIT_NON_RETRYABLE
    assert result.error.message.startswith("attempt: ")


@pytest.fixture(params=[asyncio.Event, CancelSignal], ids=["Event", "CancelSignal"])
def new_cancel(request):
    """Runs race a plain Event with a watcher task, a CancelSignal with a callback: both must behave alike."""
    return request.param


async def test_cancel_event_set_while_the_job_awaits_gives_143(events, new_cancel):
    cancel = new_cancel()
    running = asyncio.ensure_future(run("test-exec-sleeps", cancel_event=cancel, cancel_grace_seconds=0.01))
    await wait_until(lambda: "started" in events)
    cancel.set()
    result = await asyncio.wait_for(running, timeout=5)
    assert result.exit_code == EXIT_CANCELLED and not result.retryable
    assert result.error.type == "craft_jobs_runner.errors.JobCancelledError"
    assert "did not stop within 0.01s" in result.error.message
    assert events == ["started", "interrupted"]


@pytest.mark.parametrize(
    ("how", "error_type"),
    [
        ("raise_if_cancelled", "craft_jobs_runner.errors.JobCancelledError"),
        ("return", "craft_jobs_runner.errors.JobCancelledError"),
        ("other-error", "ConnectionResetError"),
    ],
)
async def test_a_job_that_stops_by_itself_within_the_grace_is_cancelled(events, new_cancel, how, error_type):
    cancel = new_cancel()
    # A long grace: the result must come from the job stopping, not from the runner.
    running = asyncio.ensure_future(
        run("test-exec-cooperates", {"how": how}, cancel_event=cancel, cancel_grace_seconds=60)
    )
    await wait_until(lambda: "started" in events)
    cancel.set()
    result = await asyncio.wait_for(running, timeout=5)
    assert (result.exit_code, result.error.type) == (EXIT_CANCELLED, error_type)
    assert events == ["started", "noticed"]


async def test_a_job_swallowing_the_forced_cancellation_is_still_cancelled(events, new_cancel):
    cancel = new_cancel()
    running = asyncio.ensure_future(run("test-exec-stubborn", cancel_event=cancel, cancel_grace_seconds=0))
    await wait_until(lambda: "started" in events)
    cancel.set()
    result = await asyncio.wait_for(running, timeout=5)
    assert result.exit_code == EXIT_CANCELLED
    assert events == ["started", "swallowed"]


async def test_a_timeout_error_of_the_job_itself_is_an_ordinary_failure(new_cancel):
    # Raced against a cancel event, so the runner's own deadline is in place too.
    result = await run("test-exec-own-timeout", cancel_event=new_cancel())
    assert (result.exit_code, result.error.type) == (EXIT_FAILED, "TimeoutError")


async def test_a_run_cancelled_before_it_starts_does_not_run(events, new_cancel):
    cancel = new_cancel()
    cancel.set()
    result = await run("test-exec-sleeps", cancel_event=cancel)
    assert result.exit_code == EXIT_CANCELLED
    assert events == []


async def test_a_cancel_event_that_is_never_set_does_not_change_the_outcome(events, new_cancel):
    result = await run("test-exec-recorded", {"invoice_id": 1, "amount": 1}, cancel_event=new_cancel())
    assert result.exit_code == EXIT_SUCCEEDED
    assert (await run("test-exec-fails", cancel_event=new_cancel())).exit_code == EXIT_FAILED


async def test_a_job_raising_cancelled_error_itself_counts_as_cancelled():
    result = await run("test-exec-cancels-itself")
    assert result.exit_code == EXIT_CANCELLED


async def test_the_class_timeout_fails_the_run_retryably():
    result = await run("test-exec-slow")
    assert result.exit_code == EXIT_FAILED
    assert result.error.type == "craft_jobs_runner.errors.JobTimeoutError"
    assert "timeout of 1s" in result.error.message


async def test_cancelling_the_caller_stops_the_job_closes_services_and_propagates(events):
    running = asyncio.ensure_future(run("test-exec-uses-resource"))
    await wait_until(lambda: "started" in events)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert events == ["resource opened", "started", "resource closed"]


async def test_cancelling_the_caller_while_racing_a_cancel_event_also_propagates(events, new_cancel):
    running = asyncio.ensure_future(run("test-exec-uses-resource", cancel_event=new_cancel()))
    await wait_until(lambda: "started" in events)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert events == ["resource opened", "started", "resource closed"]


async def test_execute_with_context_runs_a_prebuilt_context(events):
    context = JobContext.from_environment({"CRAFT_JOB_ID": "env-job", "CRAFT_JOB_TYPE": "test-exec-recorded"})
    result = await execute_with_context(context, b'{"invoice_id": 5, "amount": 1}')
    assert result.exit_code == EXIT_SUCCEEDED
    assert events[0] == "run 5 1.0 []"
