"""context.scheduler in the runner: available only with an API address and a
credential; a missing credential file or a bad job is named."""

from __future__ import annotations

import pytest

from craft_jobs_runner import ContextError, JobContext, SchedulerError, SchedulerUnavailableError, contract
from craft_jobs_runner.scheduler import RunScheduler

ENV = {contract.ENV_JOB_ID: "7", contract.ENV_JOB_TYPE: "fan-out"}


async def test_without_an_api_address_scheduling_says_which_option_to_set():
    context = JobContext.from_environment(ENV)
    assert not context.scheduler.available
    with pytest.raises(SchedulerUnavailableError, match="set the job_api_url option"):
        await context.scheduler.schedule("send-mail")


def test_the_credential_is_read_from_its_file(tmp_path):
    token = tmp_path / "scheduler-token"
    token.write_text("cjrun1.a.b\n")
    env = {**ENV, contract.ENV_API_URL: "http://api.local/", contract.ENV_SCHEDULER_TOKEN_FILE: str(token)}
    scheduler = JobContext.from_environment(env).scheduler
    assert scheduler.available and scheduler.api_url == "http://api.local"


def test_an_unreadable_credential_file_is_named(tmp_path):
    env = {**ENV, contract.ENV_API_URL: "http://api.local", contract.ENV_SCHEDULER_TOKEN_FILE: str(tmp_path / "none")}
    with pytest.raises(ContextError, match=contract.ENV_SCHEDULER_TOKEN_FILE):
        JobContext.from_environment(env)


async def test_a_job_that_is_neither_a_class_nor_a_name_is_refused_before_any_call():
    with pytest.raises(SchedulerError, match="job must be a Job class or a job type name"):
        await RunScheduler("http://127.0.0.1:9", "t").schedule(42)

