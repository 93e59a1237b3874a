import pytest
from pydantic import BaseModel

from craft_jobs_runner import Job, JobDefinitionError, JobFilter, get_job_class, job_descriptor


class DescribedJob(Job):
    """Send one invoice.

    More detail that the descriptor leaves out.
    """

    job_type = "test-job-described"
    max_attempts = 5
    timeout_seconds = 60

    class Parameters(BaseModel):
        invoice_id: int
        note: str = ""

    async def run(self, params, context):
        pass


class UndocumentedJob(Job):
    async def run(self, params, context):
        pass


def test_job_type_defaults_to_the_class_name():
    assert UndocumentedJob.job_type == "UndocumentedJob"
    assert get_job_class("UndocumentedJob") is UndocumentedJob


def test_defaults_of_a_minimal_job():
    assert UndocumentedJob.max_attempts is None
    assert UndocumentedJob.timeout_seconds is None
    assert UndocumentedJob.non_retryable_exceptions == ()
    assert UndocumentedJob.filters == ()
    assert UndocumentedJob.Parameters.model_validate({}).model_dump() == {}


def test_the_default_parameters_reject_unexpected_fields():
    with pytest.raises(ValueError, match="surprise"):
        UndocumentedJob.Parameters.model_validate({"surprise": 1})


def test_job_type_is_not_inherited_by_a_concrete_subclass():
    class ChildOfDescribed(DescribedJob):
        pass

    assert ChildOfDescribed.job_type == "ChildOfDescribed"
    assert get_job_class("test-job-described") is DescribedJob


def test_descriptor_carries_type_schema_and_retry_settings():
    descriptor = job_descriptor(DescribedJob)
    assert descriptor == {
        "job_type": "test-job-described",
        "description": "Send one invoice.",
        "parameters_schema": DescribedJob.Parameters.model_json_schema(),
        "max_attempts": 5,
        "timeout_seconds": 60,
    }
    assert descriptor["parameters_schema"]["required"] == ["invoice_id"]


def test_descriptor_of_an_undocumented_job_has_no_description():
    # Job's own docstring must not leak into every subclass.
    assert job_descriptor(UndocumentedJob)["description"] is None


@pytest.mark.parametrize("not_a_job", [Job, int, "DescribedJob"])
def test_descriptor_refuses_what_is_not_a_concrete_job(not_a_job):
    with pytest.raises(TypeError, match="expected a Job subclass"):
        job_descriptor(not_a_job)


def test_descriptor_refuses_an_abstract_job():
    class AbstractBase(Job):
        abstract = True

    with pytest.raises(TypeError, match="abstract"):
        job_descriptor(AbstractBase)


@pytest.mark.parametrize(
    ("attributes", "field", "reason"),
    [
        ({"max_attempts": 11}, "max_attempts", "from 0 to 10"),
        ({"max_attempts": -1}, "max_attempts", "from 0 to 10"),
        ({"max_attempts": True}, "max_attempts", "from 0 to 10"),
        ({"max_attempts": "3"}, "max_attempts", "from 0 to 10"),
        ({"timeout_seconds": 0}, "timeout_seconds", "positive integer"),
        ({"timeout_seconds": 1.5}, "timeout_seconds", "positive integer"),
        ({"non_retryable_exceptions": ValueError}, "non_retryable_exceptions", "tuple of exception classes"),
        ({"non_retryable_exceptions": (ValueError, "KeyError")}, "non_retryable_exceptions", "tuple"),
        ({"Parameters": dict}, "Parameters", "pydantic BaseModel"),
        ({"filters": JobFilter()}, "filters", "list of JobFilter"),
        ({"filters": [JobFilter]}, "filters[0]", "JobFilter instance"),
        ({"job_type": ""}, "job_type", "1-63 letters"),
        ({"job_type": "has space"}, "job_type", "1-63 letters"),
        ({"job_type": "-leading-dash"}, "job_type", "1-63 letters"),
        ({"job_type": "x" * 64}, "job_type", "1-63 letters"),
        ({"job_type": 7}, "job_type", "1-63 letters"),
    ],
)
def test_malformed_class_attributes_are_refused_when_the_class_is_defined(attributes, field, reason):
    async def run(self, params, context):
        pass

    with pytest.raises(JobDefinitionError, match=reason) as caught:
        type("BadJob", (Job,), {"run": run, **attributes})
    assert caught.value.field == field
    assert f"BadJob.{field}:" in str(caught.value)


def test_boundary_values_are_accepted():
    class ZeroAttempts(Job):
        job_type = "test-job-zero-attempts"
        max_attempts = 0
        timeout_seconds = 1
        non_retryable_exceptions = [KeyError]  # a list is accepted and stored as a tuple

        async def run(self, params, context):
            pass

    class TenAttempts(Job):
        job_type = "test.job_ten-attempts"
        max_attempts = 10

        async def run(self, params, context):
            pass

    assert ZeroAttempts.non_retryable_exceptions == (KeyError,)
    assert TenAttempts.max_attempts == 10


def test_run_must_be_defined():
    with pytest.raises(JobDefinitionError, match="run: must be defined"):

        class NoRun(Job):
            pass


def test_run_must_be_async():
    with pytest.raises(JobDefinitionError, match="run: must be a coroutine function"):

        class SyncRun(Job):
            def run(self, params, context):
                pass
