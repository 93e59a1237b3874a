import asyncio

import pytest

from craft_jobs_runner import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_SUCCEEDED,
    Job,
    JobContext,
    ServiceError,
    execute,
    service,
)

from .conftest import EVENTS, wait_until


class Connection:
    def __init__(self, name):
        self.name = name
        self.closed = False


@service("test-svc-db")
async def database(context):
    connection = Connection(f"db for {context.job_id}")
    EVENTS.append("db opened")
    yield connection
    connection.closed = True
    EVENTS.append("db closed")


@service("test-svc-cache")
def cache():
    EVENTS.append("cache opened")
    yield {"hits": 0}
    EVENTS.append("cache closed")


@service("test-svc-clock")
async def clock(context):
    return f"clock of {context.job_type}"


@service("test-svc-settings")
def settings():
    EVENTS.append("settings built")
    return {"region": "eu"}


@service("test-svc-repository")
async def repository(context):
    # A service may depend on another; it is then closed after its dependant.
    db = await context.services.get("test-svc-db")
    EVENTS.append("repository opened")
    yield f"repository on {db.name}"
    EVENTS.append("repository closed")


@service("test-svc-fails-to-close")
async def fails_to_close():
    yield "x"
    raise OSError("commit failed")


@service("test-svc-yields-twice")
async def yields_twice():
    yield 1
    yield 2


@service("test-svc-never-yields")
def never_yields():
    return
    yield


@service("test-svc-chicken")
async def chicken(context):
    return await context.services.get("test-svc-egg")


@service("test-svc-egg")
async def egg(context):
    return await context.services.get("test-svc-chicken")


@service("test-svc-slow")
async def slow():
    EVENTS.append("slow building")
    await asyncio.sleep(0.01)
    return object()


class UsesServices(Job):
    job_type = "test-svc-user"

    class Parameters(Job.Parameters):
        names: list[str]
        then: str = "succeed"

    async def run(self, params, context):
        for name in params.names:
            await context.services.get(name)
        EVENTS.append("run")
        if params.then == "fail":
            raise RuntimeError("the job failed")
        if params.then == "wait":
            await asyncio.sleep(3600)


def context(job_id="job-1"):
    return JobContext(job_id=job_id, job_type="test-svc-user")


async def test_services_are_built_lazily_once_per_run_and_closed(events):
    ctx = context("job-9")
    assert events == []
    db = await ctx.services.get("test-svc-db")
    assert await ctx.services.get("test-svc-db") is db
    assert db.name == "db for job-9"
    assert events == ["db opened"]
    await ctx.services.aclose()
    assert db.closed
    assert events == ["db opened", "db closed"]


async def test_every_factory_form_is_supported(events):
    ctx = context()
    assert await ctx.services.get("test-svc-cache") == {"hits": 0}
    assert await ctx.services.get("test-svc-clock") == "clock of test-svc-user"
    assert await ctx.services.get("test-svc-settings") == {"region": "eu"}
    await ctx.services.aclose()
    assert events == ["cache opened", "settings built", "cache closed"]


async def test_each_run_gets_its_own_instances(events):
    first, second = context("a"), context("b")
    assert await first.services.get("test-svc-db") is not await second.services.get("test-svc-db")


@pytest.mark.parametrize("then", ["succeed", "fail"])
async def test_services_close_in_reverse_order_whatever_the_outcome(events, then):
    names = ["test-svc-cache", "test-svc-repository"]
    result = await execute("test-svc-user", {"names": names, "then": then}, job_id="1")
    assert result.exit_code == (EXIT_SUCCEEDED if then == "succeed" else EXIT_FAILED)
    assert events == [
        "cache opened",
        "db opened",
        "repository opened",
        "run",
        "repository closed",
        "db closed",
        "cache closed",
    ]


async def test_services_close_on_cancellation(events):
    cancel = asyncio.Event()
    running = asyncio.ensure_future(
        execute(
            "test-svc-user",
            {"names": ["test-svc-db", "test-svc-cache"], "then": "wait"},
            job_id="1",
            cancel_event=cancel,
            cancel_grace_seconds=0,
        )
    )
    await wait_until(lambda: "run" in events)
    cancel.set()
    result = await asyncio.wait_for(running, timeout=5)
    assert result.exit_code == EXIT_CANCELLED
    assert events[-2:] == ["cache closed", "db closed"]


async def test_a_failing_teardown_fails_a_successful_run_and_the_others_still_close(events):
    names = ["test-svc-db", "test-svc-fails-to-close", "test-svc-cache"]
    result = await execute("test-svc-user", {"names": names}, job_id="1")
    assert result.exit_code == EXIT_FAILED
    assert (result.error.type, result.error.message) == ("OSError", "commit failed")
    assert events[-2:] == ["cache closed", "db closed"]


async def test_a_failing_teardown_keeps_the_job_own_error(events):
    result = await execute(
        "test-svc-user", {"names": ["test-svc-fails-to-close"], "then": "fail"}, job_id="1"
    )
    assert result.error.message == "the job failed"


async def test_the_first_of_several_teardown_failures_is_raised(events):
    ctx = context()
    await ctx.services.get("test-svc-fails-to-close")
    await ctx.services.get("test-svc-yields-twice")
    with pytest.raises(ServiceError, match="'test-svc-yields-twice': the generator yielded more than once"):
        await ctx.services.aclose()


async def test_a_generator_that_does_not_yield_is_an_error():
    with pytest.raises(ServiceError, match="'test-svc-never-yields': the generator did not yield"):
        await context().services.get("test-svc-never-yields")


async def test_an_unknown_service_is_named_with_the_known_ones():
    with pytest.raises(ServiceError, match="unknown service 'nope'; registered services: .*test-svc-db"):
        await context().services.get("nope")


async def test_an_unknown_service_fails_the_run_retryably():
    result = await execute("test-svc-user", {"names": ["nope"]}, job_id="1")
    assert result.exit_code == EXIT_FAILED
    assert "unknown service 'nope'" in result.error.message


async def test_a_service_requested_after_the_scope_closed_is_refused():
    ctx = context()
    await ctx.services.aclose()
    with pytest.raises(ServiceError, match="'test-svc-db' requested after the run's services were closed"):
        await ctx.services.get("test-svc-db")


async def test_a_dependency_cycle_is_reported():
    with pytest.raises(ServiceError, match="circular service dependency: test-svc-chicken -> test-svc-egg -> test-svc-chicken"):
        await context().services.get("test-svc-chicken")


async def test_concurrent_requests_share_one_instance(events):
    ctx = context()
    first, second = await asyncio.gather(ctx.services.get("test-svc-slow"), ctx.services.get("test-svc-slow"))
    assert first is second
    assert events == ["slow building"]
    assert ctx.services.built == ("test-svc-slow",)


def test_a_name_cannot_be_taken_by_another_factory():
    with pytest.raises(ServiceError, match="'test-svc-db' is defined by both .*database and .*impostor"):

        @service("test-svc-db")
        async def impostor(context):
            yield None


@pytest.mark.parametrize("name", ["", "   ", None])
def test_a_service_needs_a_name(name):
    with pytest.raises(ServiceError, match="service name must be a non-empty string"):
        service(name)


def test_a_factory_takes_the_context_or_nothing():
    with pytest.raises(ServiceError, match="'test-svc-greedy': the factory must take the job context or nothing"):

        @service("test-svc-greedy")
        def greedy(context, other):
            return None


def test_a_factory_with_optional_arguments_is_accepted():
    @service("test-svc-optional")
    def optional(context, retries=3):
        return retries
