import pytest

from craft_jobs_runner import (
    EXIT_FAILED,
    EXIT_NON_RETRYABLE,
    EXIT_SUCCEEDED,
    Job,
    JobFilter,
    NonRetryableError,
    add_global_filter,
    execute,
    remove_global_filter,
    service,
)

from .conftest import EVENTS


class Recording(JobFilter):
    def __init__(self, name, fail_performing=False, fail_performed=False):
        self.name = name
        self.fail_performing = fail_performing
        self.fail_performed = fail_performed

    async def on_performing(self, context):
        EVENTS.append(f"{self.name} performing {context.job_type}")
        if self.fail_performing:
            raise PermissionError(f"{self.name} refuses")

    async def on_performed(self, context, result):
        EVENTS.append(f"{self.name} performed {result.exit_code}")
        if self.fail_performed:
            raise RuntimeError(f"{self.name} broke afterwards")

    def __repr__(self):
        return f"Recording({self.name!r})"


class Silent(JobFilter):
    """Overrides nothing: the default hooks must be harmless."""


@service("test-filters-resource")
def resource():
    EVENTS.append("resource opened")
    yield "resource"
    EVENTS.append("resource closed")


class Filtered(Job):
    job_type = "test-filters-filtered"
    filters = [Recording("class-1"), Silent(), Recording("class-2")]

    async def run(self, params, context):
        await context.services.get("test-filters-resource")
        EVENTS.append("run")


class RefusedByItsFilter(Job):
    job_type = "test-filters-refused"
    filters = [Recording("outer"), Recording("refuser", fail_performing=True), Recording("never")]

    async def run(self, params, context):
        EVENTS.append("run")


class BrokenAfterwards(Job):
    job_type = "test-filters-broken-afterwards"
    filters = [Recording("first"), Recording("breaks", fail_performed=True)]

    class Parameters(Job.Parameters):
        fail: bool = False

    async def run(self, params, context):
        if params.fail:
            raise NonRetryableError("the job itself failed")


@pytest.fixture
def global_filter(events):
    added = Recording("global")
    add_global_filter(added)
    yield added
    remove_global_filter(added)


async def test_global_filters_wrap_class_filters_and_performed_runs_in_reverse(global_filter):
    result = await execute("test-filters-filtered", {}, job_id="1")
    assert result.exit_code == EXIT_SUCCEEDED
    assert EVENTS == [
        "global performing test-filters-filtered",
        "class-1 performing test-filters-filtered",
        "class-2 performing test-filters-filtered",
        "resource opened",
        "run",
        "resource closed",  # services close before the performed hooks
        "class-2 performed 0",
        "class-1 performed 0",
        "global performed 0",
    ]


async def test_a_failing_performing_hook_fails_the_run_retryably_without_running_it(events):
    result = await execute("test-filters-refused", {}, job_id="1")
    assert result.exit_code == EXIT_FAILED
    assert (result.error.type, result.error.message) == ("PermissionError", "refuser refuses")
    # Only the filters that completed on_performing get on_performed.
    assert events == [
        "outer performing test-filters-refused",
        "refuser performing test-filters-refused",
        "outer performed 1",
    ]


async def test_a_failing_performed_hook_fails_a_successful_run(events):
    result = await execute("test-filters-broken-afterwards", {}, job_id="1")
    assert result.exit_code == EXIT_FAILED
    assert result.error.message == "breaks broke afterwards"
    # Later hooks see the outcome as it now stands.
    assert events[-2:] == ["breaks performed 0", "first performed 1"]


async def test_a_failing_performed_hook_keeps_the_job_own_failure(events):
    result = await execute("test-filters-broken-afterwards", {"fail": True}, job_id="1")
    assert result.exit_code == EXIT_NON_RETRYABLE
    assert result.error.message == "the job itself failed"


async def test_global_filters_apply_to_every_job_type(global_filter):
    await execute("test-filters-broken-afterwards", {}, job_id="1")
    assert EVENTS[0] == "global performing test-filters-broken-afterwards"


async def test_filters_do_not_run_for_invalid_parameters(global_filter):
    result = await execute("test-filters-filtered", {"unexpected": 1}, job_id="1")
    assert result.exit_code == EXIT_NON_RETRYABLE
    assert EVENTS == []


def test_only_filter_instances_can_be_global():
    with pytest.raises(TypeError, match="expected a JobFilter instance"):
        add_global_filter(Recording)  # the class, not an instance


def test_removing_an_unknown_global_filter_is_an_error():
    with pytest.raises(ValueError, match="is not a global filter"):
        remove_global_filter(Recording("stranger"))
